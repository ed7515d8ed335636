"""Reader positions: the cursor of a relay or projection, stored in the service's database."""

from __future__ import annotations

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
