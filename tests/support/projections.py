"""A projection for kernel tests: one row per applied event, so a double application shows."""

from __future__ import annotations

from shared.db import Connection
from shared.envelope import RecordedEvent


class ThingsProjection:
    name = "things"
    tables = ("things", "thing_totals")
    ddl = """
    CREATE TABLE IF NOT EXISTS things (
        event_id uuid PRIMARY KEY,
        stream_id text NOT NULL,
        stream_version int NOT NULL,
        n int NOT NULL
    );
    CREATE TABLE IF NOT EXISTS thing_totals (
        stream_id text PRIMARY KEY,
        total bigint NOT NULL,
        events int NOT NULL
    );
    """

    def __init__(self, topics: tuple[str, ...] = (), fail_once_after: int | None = None) -> None:
        self.topics = topics
        self._fail_after = fail_once_after
        self.failures = 0

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if self._fail_after is not None:
            if self._fail_after == 0:
                self._fail_after = None
                self.failures += 1
                raise RuntimeError("projection failed mid-batch")
            self._fail_after -= 1
        # A plain INSERT: applying an event twice would fail on the key or double the total.
        await conn.execute(
            "INSERT INTO things (event_id, stream_id, stream_version, n) VALUES ($1, $2, $3, $4)",
            event.event_id,
            event.stream_id,
            event.stream_version,
            event.data["n"],
        )
        await conn.execute(
            "INSERT INTO thing_totals (stream_id, total, events) VALUES ($1, $2, 1)"
            " ON CONFLICT (stream_id) DO UPDATE SET total = thing_totals.total + EXCLUDED.total,"
            " events = thing_totals.events + 1",
            event.stream_id,
            event.data["n"],
        )
