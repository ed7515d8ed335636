"""Reader positions: the cursor of a relay or projection, stored in the service's database,
and how far behind it is."""

from __future__ import annotations

import time
from typing import Any

from shared.db import Connection, Pool
from shared.eventstore.cursor import Cursor


async def load_cursor(db: Pool | Connection, reader: str) -> Cursor:
    raw = await db.fetchval("SELECT cursor FROM reader_positions WHERE reader = $1", reader)
    return Cursor.from_json(raw) if raw is not None else Cursor.start()


async def save_cursor(db: Pool | Connection, reader: str, cursor: Cursor) -> None:
    await db.execute(
        "INSERT INTO reader_positions (reader, cursor) VALUES ($1, $2)"
        " ON CONFLICT (reader) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now()",
        reader,
        cursor.to_json(),
    )


async def lock_cursor(conn: Connection, reader: str) -> Cursor:
    """The reader's cursor, locked until the transaction ends: replicas of a reader take turns,
    each continuing exactly where the previous one saved."""
    await conn.execute(
        "INSERT INTO reader_positions (reader, cursor) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        reader,
        Cursor.start().to_json(),
    )
    raw = await conn.fetchval("SELECT cursor FROM reader_positions WHERE reader = $1 FOR UPDATE", reader)
    return Cursor.from_json(raw)


# Committed events a reader has not finished: those of transactions not in its `done` snapshot.
# An index range scan from the snapshot's xmin; capped, so a reader far behind stays cheap to ask.
_PENDING = """
SELECT count(*) FROM (
    SELECT 1 FROM events
    WHERE transaction_id >= pg_snapshot_xmin($1::text::pg_snapshot)
      AND NOT pg_visible_in_snapshot(transaction_id, $1::text::pg_snapshot)
    LIMIT $2
) AS pending
"""
PENDING_CAP = 1_000_000


async def pending_events(db: Pool | Connection, reader: str) -> int:
    """How many committed events `reader` has not yet completed (metrics; an estimate while a
    window is half read, since it counts the whole window)."""
    cursor = await load_cursor(db, reader)
    count = await db.fetchval(_PENDING, cursor.done, PENDING_CAP)
    return int(count or 0)


class ReaderLag:
    """A reader's lag on a Prometheus gauge. While the reader is behind it is counted at most
    once a second (under load the count would cost more than the appends it watches); once a
    window came back empty it is zero without asking."""

    INTERVAL_S = 1.0

    def __init__(self, pool: Pool, reader: str, gauge: Any) -> None:
        self._pool = pool
        self._reader = reader
        self._gauge = gauge
        self._measured_at = -1e9

    async def behind(self) -> None:
        if time.monotonic() - self._measured_at < self.INTERVAL_S:
            return
        self._measured_at = time.monotonic()
        self._gauge.set(await pending_events(self._pool, self._reader))

    def caught_up(self) -> None:
        self._gauge.set(0)
