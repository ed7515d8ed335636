"""The private `one_time_passwords` table: one live code (as an argon2id hash) per customer.

Every read that leads to a write locks the row (`FOR UPDATE`), so the rules of
`domain.one_time_password` hold however many confirmations race.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.identity.domain.one_time_password import OtpState
from shared.db import Connection, Pool


@dataclass(frozen=True)
class StoredCode:
    state: OtpState
    code_hash: str


def _stored(row: asyncpg.Record | None) -> StoredCode | None:
    if row is None:
        return None
    state = OtpState(row["otp_id"], row["expires_at"], row["attempts"], row["used_at"], tuple(row["issued_at"]))
    return StoredCode(state, row["code_hash"])


_SELECT = "SELECT otp_id, code_hash, expires_at, attempts, used_at, issued_at FROM one_time_passwords"


async def find(db: Pool | Connection, customer_number: str) -> StoredCode | None:
    return _stored(await db.fetchrow(f"{_SELECT} WHERE customer_number = $1", customer_number))


async def lock(conn: Connection, customer_number: str) -> StoredCode | None:
    return _stored(await conn.fetchrow(f"{_SELECT} WHERE customer_number = $1 FOR UPDATE", customer_number))


async def replace(
    conn: Connection,
    customer_number: str,
    otp_id: uuid.UUID,
    code_hash: str,
    expires_at: datetime,
    issued_at: tuple[datetime, ...],
) -> None:
    """Store a new code, which kills the previous one (a new id, no attempts, not used)."""
    await conn.execute(
        "INSERT INTO one_time_passwords (customer_number, otp_id, code_hash, expires_at, attempts, used_at, issued_at)"
        " VALUES ($1, $2, $3, $4, 0, NULL, $5)"
        " ON CONFLICT (customer_number) DO UPDATE SET otp_id = EXCLUDED.otp_id, code_hash = EXCLUDED.code_hash,"
        " expires_at = EXCLUDED.expires_at, attempts = 0, used_at = NULL, issued_at = EXCLUDED.issued_at",
        customer_number,
        otp_id,
        code_hash,
        expires_at,
        list(issued_at),
    )


async def count_try(conn: Connection, customer_number: str) -> None:
    await conn.execute(
        "UPDATE one_time_passwords SET attempts = attempts + 1 WHERE customer_number = $1", customer_number
    )


async def mark_used(conn: Connection, customer_number: str, now: datetime) -> None:
    """The customer's live code, if any, no longer works: used, or withdrawn because it went to an
    address that is no longer the account's (refused alike)."""
    await conn.execute(
        "UPDATE one_time_passwords SET used_at = $2 WHERE customer_number = $1 AND used_at IS NULL",
        customer_number,
        now,
    )
