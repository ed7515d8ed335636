"""The Kafka consumer runner: other services' events into this service's read models.

Delivery from Kafka is at least once; the effect is exactly once because, for every record, the
read-model change, the stream version it brings the projection to and the partition offset commit
in one PostgreSQL transaction:

* a record whose stream version is not above the version already applied changes nothing (this
  absorbs the relay's re-publications after a crash, which reuse event ids and versions);
* on assignment the consumer seeks to the offsets stored in PostgreSQL, which are the truth;
  offsets are also committed to Kafka afterwards, only after the database commit, for lag
  monitoring by standard tools;
* a rebalance waits for the batch in flight (the revoke callback takes the processing lock), and
  `stop` drains the current batch, commits, and leaves the group.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from shared import cloudevents, logging_setup, metrics
from shared.db import Connection, Pool
from shared.envelope import RecordedEvent
from shared.kafka import manual_commit_consumer
from shared.waiting import Backoff

log = structlog.get_logger(__name__)


class KafkaProjection(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def topics(self) -> Sequence[str]: ...
    @property
    def tables(self) -> Sequence[str]: ...
    @property
    def ddl(self) -> str: ...

    async def apply(self, conn: Connection, event: RecordedEvent) -> None: ...


def consumer_group(service: str, projection: str) -> str:
    """The consumer group (and `consumer_offsets.consumer`) of a service's Kafka projection."""
    return f"{service}.{projection}"


async def claim_stream_version(conn: Connection, consumer: str, event: RecordedEvent) -> bool:
    """Record that `consumer` applies this event; False when it (or a later one) was applied."""
    row = await conn.fetchval(
        "INSERT INTO consumer_stream_versions AS v (consumer, stream_id, stream_version)"
        " VALUES ($1, $2, $3)"
        " ON CONFLICT (consumer, stream_id) DO UPDATE SET stream_version = EXCLUDED.stream_version"
        " WHERE v.stream_version < EXCLUDED.stream_version RETURNING 1",
        consumer,
        event.stream_id,
        event.stream_version,
    )
    return row is not None


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: KafkaConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        revoked = list(revoked)
        async with self._runner.processing:
            log.info("consumer_partitions_revoked", consumer=self._runner.name, partitions=_tps(revoked))
            for tp in revoked:
                # The new owner reports this partition's lag; a stale copy here would double it.
                with contextlib.suppress(KeyError):
                    metrics.CONSUMER_LAG.remove(self._runner.name, tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._runner.seek_to_stored_offsets(list(assigned))


class KafkaConsumerRunner:
    def __init__(
        self,
        *,
        pool: Pool,
        bootstrap: str,
        projection: KafkaProjection,
        group_id: str,
        max_records: int = 1000,
    ) -> None:
        self._pool = pool
        self._bootstrap = bootstrap
        self.projection = projection
        self.name = group_id
        self._max_records = max_records
        self.processing = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self.ready = asyncio.Event()

    async def seek_to_stored_offsets(self, partitions: list[TopicPartition]) -> None:
        assert self._consumer is not None
        rows = await self._pool.fetch(
            "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer = $1", self.name
        )
        stored = {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        for tp in partitions:
            if tp in stored:
                self._consumer.seek(tp, stored[tp])
            else:
                await self._consumer.seek_to_beginning(tp)
        log.info("consumer_partitions_assigned", consumer=self.name, partitions=_tps(partitions))
        self.ready.set()

    async def _rewind(self, tp: TopicPartition, backoff: Backoff, stop: asyncio.Event) -> None:
        """Back to the stored offset after a failed batch, however long the database is away:
        reading on from where the failed batch ended would skip it."""
        while True:
            await backoff.wait(stop)
            if stop.is_set():
                return  # nothing more is applied, so nothing is skipped
            try:
                await self.seek_to_stored_offsets([tp])
                return
            except Exception as exc:
                log.error("consumer_rewind_failed", consumer=self.name, partition=tp.partition, error=repr(exc))

    async def apply_records(self, tp: TopicPartition, records: Sequence[Any]) -> int:
        """Apply one partition's records in one transaction; returns how many changed something."""
        applied = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for record in records:
                try:
                    event = cloudevents.from_kafka(record.value, record.headers)
                except cloudevents.MalformedCloudEvent as exc:
                    # A poison record must not stall the partition forever: log it and move on.
                    log.error(
                        "consumer_record_malformed",
                        consumer=self.name,
                        topic=tp.topic,
                        partition=tp.partition,
                        offset=record.offset,
                        error=str(exc),
                    )
                    metrics.CONSUMER_APPLIED.labels(self.name, "malformed").inc()
                    continue
                if not await claim_stream_version(conn, self.name, event):
                    metrics.CONSUMER_APPLIED.labels(self.name, "duplicate").inc()
                    continue
                with logging_setup.bound_event(event):
                    await self.projection.apply(conn, event)
                applied += 1
                metrics.CONSUMER_APPLIED.labels(self.name, "applied").inc()
            await conn.execute(
                "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                self.name,
                tp.topic,
                tp.partition,
                records[-1].offset + 1,
            )
        return applied

    async def run(self, stop: asyncio.Event) -> None:
        consumer = manual_commit_consumer(self._bootstrap, self.name)
        self._consumer = consumer
        consumer.subscribe(topics=list(self.projection.topics), listener=_Rebalance(self))
        await consumer.start()
        log.info("consumer_started", consumer=self.name, topics=list(self.projection.topics))
        backoff = Backoff()
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=self._max_records)
                for tp, records in batches.items():
                    if not records:
                        continue
                    async with self.processing:
                        try:
                            await self.apply_records(tp, records)
                            backoff.reset()
                        except Exception as exc:
                            # Nothing of the batch was committed; rewind this partition to the
                            # stored offset and retry after a pause instead of dying silently.
                            log.error(
                                "consumer_batch_failed",
                                consumer=self.name,
                                topic=tp.topic,
                                partition=tp.partition,
                                error=repr(exc),
                            )
                            await self._rewind(tp, backoff, stop)
                            continue
                    try:
                        await consumer.commit({tp: records[-1].offset + 1})
                    except (CommitFailedError, IllegalStateError) as exc:
                        # Revoked meanwhile: the offset is safe in PostgreSQL, the new owner seeks there.
                        log.info("consumer_commit_skipped", consumer=self.name, error=repr(exc))
                    highwater = consumer.highwater(tp)
                    if highwater is not None:
                        metrics.CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(
                            max(0, highwater - (records[-1].offset + 1))
                        )
        finally:
            try:
                # Leaving the group politely; a broker that does not answer must not hang shutdown.
                await asyncio.wait_for(consumer.stop(), timeout=10)
            except TimeoutError:
                log.warning("consumer_stop_timed_out", consumer=self.name)
            self._consumer = None
            log.info("consumer_stopped", consumer=self.name)


def _tps(tps: Iterable[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)
