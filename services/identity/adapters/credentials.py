"""The private `credentials` table: password hashes and roles of every login subject."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.identity.domain.events import SubjectKind
from shared.db import Connection, Pool


@dataclass(frozen=True)
class Credential:
    subject_kind: SubjectKind
    subject: str
    password_hash: str | None
    roles: frozenset[str]


async def find(db: Pool | Connection, kind: SubjectKind, subject: str) -> Credential | None:
    row = await db.fetchrow(
        "SELECT password_hash, roles FROM credentials WHERE subject_kind = $1 AND subject = $2", kind, subject
    )
    if row is None:
        return None
    return Credential(kind, subject, row["password_hash"], frozenset(row["roles"]))


async def create(
    conn: Connection, kind: SubjectKind, subject: str, roles: Iterable[str], password_hash: str | None, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO credentials (subject_kind, subject, password_hash, roles, updated_at) VALUES ($1, $2, $3, $4, $5)",
        kind,
        subject,
        password_hash,
        sorted(roles),
        now,
    )


async def set_password_hash(
    conn: Connection, kind: SubjectKind, subject: str, password_hash: str, now: datetime
) -> None:
    await conn.execute(
        "UPDATE credentials SET password_hash = $3, updated_at = $4 WHERE subject_kind = $1 AND subject = $2",
        kind,
        subject,
        password_hash,
        now,
    )


async def replace_hash_if_unchanged(
    conn: Connection, kind: SubjectKind, subject: str, old_hash: str, new_hash: str, now: datetime
) -> bool:
    """Replace the hash `old_hash` (an upgrade, or a change proven with the old password); False
    when the password was changed meanwhile and nothing was replaced."""
    status: str = await conn.execute(
        "UPDATE credentials SET password_hash = $4, updated_at = $5"
        " WHERE subject_kind = $1 AND subject = $2 AND password_hash = $3",
        kind,
        subject,
        old_hash,
        new_hash,
        now,
    )
    return status == "UPDATE 1"


async def set_roles(conn: Connection, kind: SubjectKind, subject: str, roles: Iterable[str], now: datetime) -> None:
    await conn.execute(
        "UPDATE credentials SET roles = $3, updated_at = $4 WHERE subject_kind = $1 AND subject = $2",
        kind,
        subject,
        sorted(roles),
        now,
    )


async def disable(conn: Connection, kind: SubjectKind, subject: str, now: datetime) -> None:
    """No password and no roles: every login is refused as for a subject without a password."""
    await conn.execute(
        "UPDATE credentials SET password_hash = NULL, roles = '{}', updated_at = $3"
        " WHERE subject_kind = $1 AND subject = $2",
        kind,
        subject,
        now,
    )


async def lock(conn: Connection, kind: SubjectKind, subject: str) -> None:
    """Hold the subject's row until the transaction ends: changes to one subject's credentials
    (and the events read to decide them) then happen one after the other."""
    await conn.execute("SELECT 1 FROM credentials WHERE subject_kind = $1 AND subject = $2 FOR UPDATE", kind, subject)


async def staff_usernames(db: Pool | Connection, *, after: str | None, limit: int) -> list[str]:
    """Staff user names in name order, after `after` (a page's cursor)."""
    rows = await db.fetch(
        "SELECT subject FROM credentials WHERE subject_kind = 'staff' AND ($1::text IS NULL OR subject > $1)"
        " ORDER BY subject LIMIT $2",
        after,
        limit,
    )
    return [r["subject"] for r in rows]
