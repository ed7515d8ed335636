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
  `stop` drains the current batch, commits, and leaves the group;
* a rebuilt copy put in place of the live one (`shared.rebuild.replace_live_copy`) stores the
  offsets and stream versions its rows reflect and raises the consumer's generation: a batch
  read under an older generation is not applied, and the consumer seeks to the stored offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from shared import cloudevents, logging_setup, metrics
from shared.db import Connection, Pool
from shared.envelope import RecordedEvent
from shared.kafka import manual_commit_consumer
from shared.projections import Projection
from shared.waiting import Backoff

log = structlog.get_logger(__name__)

REPLACEMENT_LOOK_S = 1.0  # how often an idle consumer looks whether its copy was replaced


class KafkaProjection(Protocol):
    """What a consumer applies records to. A projection may also define `async def
    after_replace(self, conn)`: called in the transaction that puts a rebuilt copy in place (to
    tell the copy's in-process caches that every row may have changed)."""

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


def event_of(record: Any, topic: str, partition: int, malformed: str, **context: str) -> RecordedEvent | None:
    """The record's event, or None for one that is no CloudEvent of the contract: logged (as
    `malformed`, with where it lies) and skipped, because one poison record must not stall a
    partition forever, nor stop a rebuild that must equal the consumers' copy."""
    try:
        return cloudevents.from_kafka(record.value, record.headers)
    except cloudevents.MalformedCloudEvent as exc:
        log.error(malformed, topic=topic, partition=partition, offset=record.offset, error=str(exc), **context)
        return None


async def apply_once(conn: Connection, consumer: str, projection: Projection, event: RecordedEvent) -> bool:
    """Apply the event to `consumer`'s copy unless it (or a later one of its stream) was applied."""
    if not await claim_stream_version(conn, consumer, event):
        return False
    with logging_setup.bound_event(event):
        await projection.apply(conn, event)
    return True


async def stored_offsets(conn: Connection, consumer: str) -> dict[TopicPartition, int]:
    """Where the consumer reads on in each partition (written with its copy's rows)."""
    rows = await conn.fetch("SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer = $1", consumer)
    return {TopicPartition(r["topic"], r["partition"]): int(r["next_offset"]) for r in rows}


async def consumer_generation(conn: Connection, consumer: str) -> int:
    """The consumer's generation (see `consumer_generations`), its row made if missing."""
    await conn.execute(
        "INSERT INTO consumer_generations (consumer) VALUES ($1) ON CONFLICT (consumer) DO NOTHING", consumer
    )
    return int(await conn.fetchval("SELECT generation FROM consumer_generations WHERE consumer = $1", consumer))


class CopyReplaced(Exception):
    """The consumer's read model and stored offsets were replaced since it last sought."""


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
        self._generation: int | None = None  # the generation the consumer last sought under
        self.ready = asyncio.Event()

    async def seek_to_stored_offsets(self, partitions: list[TopicPartition]) -> None:
        assert self._consumer is not None
        async with self._pool.acquire() as conn:
            # The generation first: a replacement committed between the two reads is seen again
            # by the next batch (which then seeks once more), never missed.
            generation = await consumer_generation(conn, self.name)
            stored = await stored_offsets(conn, self.name)
        if self._generation is not None and generation != self._generation:
            # The copy was replaced: every partition it holds reads on from the replacement's offsets.
            partitions = sorted({*partitions, *self._consumer.assignment()})
        self._generation = generation
        for tp in partitions:
            if tp in stored:
                self._consumer.seek(tp, stored[tp])
            else:
                await self._consumer.seek_to_beginning(tp)
        log.info("consumer_partitions_assigned", consumer=self.name, partitions=_tps(partitions))
        self.ready.set()

    async def _rewind(
        self, partitions: list[TopicPartition], backoff: Backoff, stop: asyncio.Event, *, at_once: bool = False
    ) -> None:
        """Back to the stored offsets (after a failed batch, or a replaced copy: `at_once`), however
        long the database is away: reading on from where the batch in hand ended would skip it."""
        while True:
            if not at_once:
                await backoff.wait(stop)
            at_once = False
            if stop.is_set():
                return  # nothing more is applied, so nothing is skipped
            try:
                await self.seek_to_stored_offsets(partitions)
                return
            except Exception as exc:
                log.error("consumer_rewind_failed", consumer=self.name, partitions=_tps(partitions), error=repr(exc))

    async def _unless_replaced(self, backoff: Backoff, stop: asyncio.Event) -> None:
        """Seek every partition to the stored offsets if the copy was replaced since the last seek."""
        assert self._consumer is not None
        try:
            generation = await self._pool.fetchval(
                "SELECT generation FROM consumer_generations WHERE consumer = $1", self.name
            )
        except Exception as exc:  # the database away: the next batch (or look) finds out
            log.warning("consumer_generation_unread", consumer=self.name, error=repr(exc))
            return
        if generation is not None and generation != self._generation and self._generation is not None:
            async with self.processing:
                await self._read_on_after_replacement(backoff, stop)

    async def _read_on_after_replacement(self, backoff: Backoff, stop: asyncio.Event) -> None:
        """Every partition back to the stored offsets: whatever the consumer held (a batch
        fetched before, its position) is of before the replacement."""
        assert self._consumer is not None
        log.info("consumer_copy_replaced", consumer=self.name)
        await self._rewind(sorted(self._consumer.assignment()), backoff, stop, at_once=True)

    async def apply_records(self, tp: TopicPartition, records: Sequence[Any]) -> int:
        """Apply one partition's records in one transaction; returns how many changed something."""
        applied = 0
        async with self._pool.acquire() as conn, conn.transaction():
            # Shared with the other batches, exclusive to a replacement: one in flight finishes
            # first, and the next one sees its generation.
            generation = await conn.fetchval(
                "SELECT generation FROM consumer_generations WHERE consumer = $1 FOR SHARE", self.name
            )
            if generation is not None and generation != self._generation:
                raise CopyReplaced
            for record in records:
                event = event_of(record, tp.topic, tp.partition, "consumer_record_malformed", consumer=self.name)
                if event is None:
                    metrics.CONSUMER_APPLIED.labels(self.name, "malformed").inc()
                elif await apply_once(conn, self.name, self.projection, event):
                    applied += 1
                    metrics.CONSUMER_APPLIED.labels(self.name, "applied").inc()
                else:
                    metrics.CONSUMER_APPLIED.labels(self.name, "duplicate").inc()
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
        look_again = 0.0
        try:
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=self._max_records)
                if not any(batches.values()) and time.monotonic() >= look_again:
                    # Idle: no batch will see a replacement, and records it lacks may be behind us.
                    look_again = time.monotonic() + REPLACEMENT_LOOK_S
                    await self._unless_replaced(backoff, stop)
                for tp, records in batches.items():
                    if not records:
                        continue
                    async with self.processing:
                        try:
                            await self.apply_records(tp, records)
                            backoff.reset()
                        except CopyReplaced:
                            await self._read_on_after_replacement(backoff, stop)
                            break  # (the other partitions' records in hand are of before it, too)
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
                            await self._rewind([tp], backoff, stop)
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
