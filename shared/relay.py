"""The outbox relay: publishes committed events from the store to the service's Kafka topic.

Each round runs in one database transaction that first locks the relay's position row, so any
number of relay replicas may run: they take turns, each continuing from the position the last
one saved, and per-key order on Kafka is the store's reader order. The position is saved only
after Kafka acknowledged every record of the batch; a relay killed mid-batch leaves the position
where it was and the batch is published again by whoever comes next (same event ids, so
consumers apply it once). A LISTEN on `events_appended` wakes the relay at every commit; a slow
fallback poll covers a lost notification (e.g. while reconnecting).
"""

from __future__ import annotations

import asyncio
import time

import structlog
from aiokafka import AIOKafkaProducer

from shared import cloudevents, metrics
from shared.db import Connection, Pool
from shared.eventstore.notifications import run_on_commits
from shared.eventstore.positions import load_cursor, lock_cursor, save_cursor
from shared.eventstore.postgres import PostgresEventStore

log = structlog.get_logger(__name__)


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
LAG_REPORT_INTERVAL_S = 1.0


async def pending_events(db: Pool | Connection, reader: str) -> int:
    """How many committed events `reader` has not yet completed (metrics; an estimate while a
    window is half read, since it counts the whole window)."""
    cursor = await load_cursor(db, reader)
    count = await db.fetchval(_PENDING, cursor.done, PENDING_CAP)
    return int(count or 0)


class OutboxRelay:
    def __init__(
        self,
        *,
        service: str,
        pool: Pool,
        store: PostgresEventStore,
        producer: AIOKafkaProducer,
        topic: str,
        batch_size: int = 2000,
        fallback_poll_s: float = 2.0,
    ) -> None:
        self.service = service
        self.reader = f"relay:{topic}"
        self._pool = pool
        self._store = store
        self._producer = producer
        self._topic = topic
        self._batch_size = batch_size
        self._fallback_poll_s = fallback_poll_s
        self._lag_reported_at = -1e9

    async def publish_round(self) -> int:
        """Publish one batch; returns how many events went out (0: nothing pending)."""
        async with self._pool.acquire() as conn, conn.transaction():
            cursor = await lock_cursor(conn, self.reader)
            batch = await self._store.read_batch(cursor, self._batch_size, conn=conn)
            if batch.events:
                started = time.perf_counter()
                futures = []
                for event in batch.events:
                    record = cloudevents.to_kafka(self.service, event)
                    futures.append(
                        await self._producer.send(
                            self._topic, value=record.value, key=record.key, headers=record.headers
                        )
                    )
                await asyncio.gather(*futures)
                metrics.RELAY_PUBLISHED.labels(self._topic).inc(len(batch.events))
                log.debug(
                    "relay_batch_published",
                    topic=self._topic,
                    events=len(batch.events),
                    seconds=round(time.perf_counter() - started, 4),
                )
            if batch.events or batch.cursor != cursor:
                await save_cursor(conn, self.reader, batch.cursor)
            return len(batch.events)

    async def drain(self) -> int:
        """Publish until nothing committed is left unpublished."""
        total = 0
        while True:
            n = await self.publish_round()
            if n == 0:
                # The window just read came back empty: nothing committed before it is pending.
                metrics.RELAY_LAG.labels(self._topic).set(0)
                return total
            total += n
            await self.report_lag()

    async def report_lag(self) -> None:
        # At most once a second: under load the count would cost more than the appends it watches.
        if time.monotonic() - self._lag_reported_at < LAG_REPORT_INTERVAL_S:
            return
        self._lag_reported_at = time.monotonic()
        metrics.RELAY_LAG.labels(self._topic).set(await pending_events(self._pool, self.reader))

    async def run(self, stop: asyncio.Event) -> None:
        log.info("relay_started", topic=self._topic)
        try:
            # While Kafka is away the lag keeps being reported, so it grows visibly.
            await run_on_commits(
                self._pool, self.drain, stop, reader=self.reader, poll_s=self._fallback_poll_s, on_error=self.report_lag
            )
        finally:
            log.info("relay_stopped", topic=self._topic)
