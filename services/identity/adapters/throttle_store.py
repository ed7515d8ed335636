"""Failed-login counters in identity's database, so every replica sees the same counts.

`reserve` locks the rows of an attempt's keys (in key order, so two attempts never deadlock)
and asks the pure rules in `domain.throttle` whether the attempt may go ahead. Two kinds of key:

* strict keys (the account) count the attempt as a failure right away, before the password is
  checked, so racing attempts cannot slip past the limit while their hashes are computed; a
  success clears the account's count;
* lenient keys (the client address) are only checked, and a failure is added once known. Many
  people may share an address (an office, a carrier's NAT): their successful logins in flight
  must not count against it. Racing failures can overshoot an address's limit by the number in
  flight; the account limit stays exact.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.identity.domain.throttle import Admitted, Throttled, ThrottlePolicy, admit
from shared.db import Connection, Pool


def account_key(kind: str, subject: str) -> str:
    return f"account:{kind}:{subject}"


def address_key(address: str) -> str:
    return f"address:{address}"


@dataclass(frozen=True)
class Reservation:
    at: datetime
    # Per strict key: its failures in the window, this attempt included.
    failures: Mapping[str, tuple[datetime, ...]]


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


async def reserve(
    pool: Pool, strict: Mapping[str, ThrottlePolicy], lenient: Mapping[str, ThrottlePolicy], now: datetime
) -> Reservation | Throttled:
    """Admit one attempt (counting it against the strict keys), or say until when it must wait."""
    policies = {**lenient, **strict}
    async with pool.acquire() as conn, conn.transaction():
        stored = await _lock(conn, sorted(policies), now)
        verdicts = {key: admit(stored.get(key, []), now, policy) for key, policy in policies.items()}
        waits = [v for v in verdicts.values() if isinstance(v, Throttled)]
        if waits:
            return max(waits, key=lambda w: w.until)
        counted: dict[str, tuple[datetime, ...]] = {}
        for key in strict:
            verdict = verdicts[key]
            assert isinstance(verdict, Admitted)
            await _store(conn, key, verdict.failures, now)
            counted[key] = verdict.failures
        if random.random() < 0.01:
            # Keys of attackers who gave up (and of unknown names) would pile up: sweep now and then.
            window = max(p.window for p in policies.values())
            await conn.execute("DELETE FROM login_throttle WHERE updated_at < $1", now - window)
    return Reservation(now, counted)


async def record_failure(pool: Pool, lenient: Mapping[str, ThrottlePolicy], reservation: Reservation) -> None:
    """Add the failed attempt to the lenient keys (the strict ones counted it already)."""
    if not lenient:
        return
    now = reservation.at
    async with pool.acquire() as conn, conn.transaction():
        stored = await _lock(conn, sorted(lenient), now)
        for key, policy in lenient.items():
            verdict = admit(stored.get(key, []), now, policy)
            # Throttled here means others failed meanwhile; the failure still counts.
            failures = verdict.failures if isinstance(verdict, Admitted) else (*stored.get(key, []), now)
            await _store(conn, key, failures, now)


async def clear(conn: Connection, key: str, now: datetime) -> None:
    """The account proved its password: it starts afresh."""
    await _store(conn, key, [], now)
