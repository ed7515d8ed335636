"""The outbox relay: publishes committed events from the store to the service's Kafka topic.

Each round runs in one database transaction that first locks the relay's position row, so any
number of relay replicas may run: they take turns, each continuing from the position the last
one saved, and per-key order on Kafka is the store's reader order. The position is saved only
after Kafka acknowledged every record of the batch; a relay killed mid-batch leaves the position
where it was and the batch is published again by whoever comes next (same event ids, so
consumers apply it once). A LISTEN on `events_appended` wakes the relay at every commit; a slow
fallback poll covers a lost notification (e.g. while reconnecting). While commits keep coming,
the relay lingers a few milliseconds between rounds (`BUSY_LINGER_S`) so that each round carries
more than the one or two events committed during the last: a round costs about eight
statements whatever it carries. The first commit after a quiet spell goes out at once.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from aiokafka import AIOKafkaProducer

from shared import cloudevents, metrics
from shared.db import Pool
from shared.eventstore.notifications import run_on_commits
from shared.eventstore.positions import ReaderLag, lock_cursor, save_cursor
from shared.eventstore.postgres import PostgresEventStore

log = structlog.get_logger(__name__)

# Between two rounds of a busy reader (the last one found events but no full batch).
BUSY_LINGER_S = 0.005


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
        linger_s: float = BUSY_LINGER_S,
    ) -> None:
        self.service = service
        self.reader = f"relay:{topic}"
        self._pool = pool
        self._store = store
        self._producer = producer
        self._topic = topic
        self._batch_size = batch_size
        self._fallback_poll_s = fallback_poll_s
        self._linger_s = linger_s
        self._lag = ReaderLag(pool, self.reader, metrics.RELAY_LAG.labels(topic))

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
                self._lag.caught_up()
                return total
            total += n
            await self.report_lag()
            if n < self._batch_size:
                await asyncio.sleep(self._linger_s)

    async def report_lag(self) -> None:
        await self._lag.behind()

    async def run(self, stop: asyncio.Event) -> None:
        log.info("relay_started", topic=self._topic)
        try:
            # While Kafka is away the lag keeps being reported, so it grows visibly.
            await run_on_commits(
                self._pool, self.drain, stop, reader=self.reader, poll_s=self._fallback_poll_s, on_error=self.report_lag
            )
        finally:
            log.info("relay_stopped", topic=self._topic)
