"""The private `sessions` and `refresh_tokens` tables.

Refresh tokens are 256-bit random strings handed to the client once; only their SHA-256 is
stored (a slow hash would add nothing: there is no guessable input to protect).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.identity.domain.events import SubjectKind
from services.identity.domain.sessions import RefreshTokenState, SessionState
from shared.db import Connection, Pool


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class PresentedToken:
    session: SessionState
    token: RefreshTokenState


def _session(row: asyncpg.Record) -> SessionState:
    return SessionState(
        session_id=row["session_id"],
        subject_kind=row["subject_kind"],
        subject=row["subject"],
        auth_time=row["auth_time"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


async def create_session(
    conn: Connection, session_id: uuid.UUID, kind: SubjectKind, subject: str, auth_time: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO sessions (session_id, subject_kind, subject, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5)",
        session_id,
        kind,
        subject,
        auth_time,
        expires_at,
    )


async def add_refresh_token(
    conn: Connection, session_id: uuid.UUID, token: str, issued_at: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO refresh_tokens (token_hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
        token_digest(token),
        session_id,
        issued_at,
        expires_at,
    )


async def lock_presented(conn: Connection, token: str) -> PresentedToken | None:
    """The session and token state for a presented refresh token, both rows locked."""
    row = await conn.fetchrow(
        "SELECT s.session_id, s.subject_kind, s.subject, s.auth_time, s.expires_at, s.revoked_at,"
        " t.expires_at AS token_expires_at, t.used_at"
        " FROM refresh_tokens t JOIN sessions s USING (session_id)"
        " WHERE t.token_hash = $1 FOR UPDATE OF s, t",
        token_digest(token),
    )
    if row is None:
        return None
    return PresentedToken(_session(row), RefreshTokenState(row["session_id"], row["token_expires_at"], row["used_at"]))


async def spend(conn: Connection, token: str, now: datetime) -> None:
    await conn.execute("UPDATE refresh_tokens SET used_at = $2 WHERE token_hash = $1", token_digest(token), now)


async def revoke(conn: Connection, session_id: uuid.UUID, reason: str, now: datetime) -> bool:
    """Revoke one session; False when it already was."""
    done = await conn.fetchval(
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE session_id = $1 AND revoked_at IS NULL"
        " RETURNING 1",
        session_id,
        now,
        reason,
    )
    return done is not None


async def revoke_all(
    conn: Connection, kind: SubjectKind, subject: str, reason: str, now: datetime, *, keep: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Revoke every live session of the subject but `keep`; the revoked ones' ids, sorted."""
    rows = await conn.fetch(
        "UPDATE sessions SET revoked_at = $3, revoked_reason = $4"
        " WHERE subject_kind = $1 AND subject = $2 AND revoked_at IS NULL"
        " AND session_id IS DISTINCT FROM $5 RETURNING session_id",
        kind,
        subject,
        now,
        reason,
        keep,
    )
    return sorted(r["session_id"] for r in rows)


async def is_active(db: Pool | Connection, session_id: uuid.UUID, now: datetime) -> bool:
    row = await db.fetchval(
        "SELECT 1 FROM sessions WHERE session_id = $1 AND revoked_at IS NULL AND expires_at > $2", session_id, now
    )
    return row is not None
