"""Failed-login counters in identity's database, so every replica sees the same counts.

`reserve` locks the rows of all keys of one attempt (in key order, so two attempts never
deadlock), asks the pure rules in `domain.throttle` whether the attempt may go ahead and, if so,
records it as a failure straight away. The attempt's outcome then settles it: a success refunds
the address's count and clears the account's; a failure leaves it counted.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.identity.domain.throttle import Admitted, Throttled, ThrottlePolicy, admit, refund
from shared.db import Connection, Pool


def account_key(kind: str, subject: str) -> str:
    return f"account:{kind}:{subject}"


def address_key(address: str) -> str:
    return f"address:{address}"


@dataclass(frozen=True)
class Reservation:
    at: datetime
    failures: Mapping[str, tuple[datetime, ...]]  # per key, in the window, this attempt included


async def _lock(conn: Connection, keys: Sequence[str], now: datetime) -> dict[str, list[datetime]]:
    await conn.execute(
        "INSERT INTO login_throttle (key, updated_at) SELECT unnest($1::text[]), $2 ON CONFLICT (key) DO NOTHING",
        list(keys),
        now,
    )
    rows = await conn.fetch(
        "SELECT key, failures FROM login_throttle WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE", list(keys)
    )
    return {r["key"]: list(r["failures"]) for r in rows}


async def _store(conn: Connection, key: str, failures: Sequence[datetime], now: datetime) -> None:
    await conn.execute(
        "UPDATE login_throttle SET failures = $2, updated_at = $3 WHERE key = $1", key, list(failures), now
    )


async def reserve(pool: Pool, policies: Mapping[str, ThrottlePolicy], now: datetime) -> Reservation | Throttled:
    """Count one attempt against every key, or say until when the attempt must wait."""
    keys = sorted(policies)
    async with pool.acquire() as conn, conn.transaction():
        stored = await _lock(conn, keys, now)
        verdicts = {key: admit(stored.get(key, []), now, policies[key]) for key in keys}
        waits = [v for v in verdicts.values() if isinstance(v, Throttled)]
        if waits:
            return max(waits, key=lambda w: w.until)
        counted: dict[str, tuple[datetime, ...]] = {}
        for key, verdict in verdicts.items():
            assert isinstance(verdict, Admitted)
            await _store(conn, key, verdict.failures, now)
            counted[key] = verdict.failures
        if random.random() < 0.01:
            # Keys of attackers who gave up (and of unknown names) would pile up: sweep now and then.
            window = max(p.window for p in policies.values())
            await conn.execute("DELETE FROM login_throttle WHERE updated_at < $1", now - window)
    return Reservation(now, counted)


async def settle_success(conn: Connection, reservation: Reservation, account: str, address: str | None) -> None:
    """The attempt succeeded: the account starts afresh, the address gets its attempt back."""
    keys = [account] if address is None else [account, address]
    stored = await _lock(conn, sorted(keys), reservation.at)
    await _store(conn, account, [], reservation.at)
    if address is not None:
        await _store(conn, address, refund(stored.get(address, []), reservation.at), reservation.at)
