"""Nothing assumes one replica: two relays and two consumers of one group, all at once.

Two relays publish one store to a 3-partition topic while writers commit concurrently; two
`KafkaConsumerRunner`s of the same group apply the topic to one read model, the second joining
mid-stream (a rebalance while events flow). Every event must reach Kafka in order per key and be
applied exactly once, and both consumers must have done part of the work.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from shared.consumer import KafkaConsumerRunner
from shared.db import Connection, Pool
from shared.envelope import RecordedEvent
from shared.eventstore.postgres import PostgresEventStore
from shared.kafka import idempotent_producer
from shared.relay import OutboxRelay
from tests.conftest import fresh_pool
from tests.support.context import context
from tests.support.events import ThingHappened, registry
from tests.support.kafka import header, read_topic
from tests.support.projections import ThingsProjection
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

CUSTOMERS = 40
EVENTS_PER_CUSTOMER = 12
WRITERS = 4


class CountingProjection(ThingsProjection):
    """The kernel tests' projection (a double application fails on its key), counting its own work."""

    def __init__(self, topics: tuple[str, ...]) -> None:
        super().__init__(topics)
        self.applied = 0

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        await super().apply(conn, event)
        self.applied += 1


class RecordingRunner(KafkaConsumerRunner):
    """Remembers its current partitions (each rebalance assigns afresh)."""

    assigned: frozenset[TopicPartition] = frozenset()

    async def seek_to_stored_offsets(self, partitions: list[TopicPartition]) -> None:
        self.assigned = frozenset(partitions)
        await super().seek_to_stored_offsets(partitions)


async def _write(store: PostgresEventStore, customers: range, after: int) -> list[RecordedEvent]:
    """Concurrent writers, each appending half of every stream's events, one at a time."""
    written: list[RecordedEvent] = []

    async def writer(mine: list[int]) -> None:
        for version in range(after, after + EVENTS_PER_CUSTOMER // 2):
            for c in mine:
                written.extend(await store.append(f"replica-{c}", version, [ThingHappened(c)], context(f"7{c:05d}")))

    await asyncio.gather(*(writer(list(customers)[w::WRITERS]) for w in range(WRITERS)))
    return written


async def test_two_relays_and_two_consumers_of_one_group_apply_every_event_once_in_order(
    pool: Pool, pg_server: str, kafka: str, topic: str
) -> None:
    store = PostgresEventStore(pool, registry)
    producers = [idempotent_producer(kafka, f"replica-{i}-{uuid.uuid4().hex[:4]}") for i in range(2)]
    for producer in producers:
        await producer.start()
    relays = [
        OutboxRelay(service="tests", pool=pool, store=store, producer=p, topic=topic, batch_size=50) for p in producers
    ]
    reader_pool = await fresh_pool(pg_server, max_size=10)  # the consuming service's own database
    projection = ThingsProjection()
    async with reader_pool.acquire() as conn:
        await conn.execute(projection.ddl)
    group = f"replicas-{uuid.uuid4().hex[:6]}"
    projections = [CountingProjection((topic,)), CountingProjection((topic,))]
    consumers = [RecordingRunner(pool=reader_pool, bootstrap=kafka, projection=p, group_id=group) for p in projections]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]
    tasks.append(asyncio.create_task(consumers[0].run(stop)))
    total = CUSTOMERS * EVENTS_PER_CUSTOMER
    try:
        await asyncio.wait_for(consumers[0].ready.wait(), timeout=60)
        written = await _write(store, range(CUSTOMERS), 0)
        # The second consumer joins while the first is busy: the group rebalances mid-stream.
        tasks.append(asyncio.create_task(consumers[1].run(stop)))

        async def shared() -> bool:
            a, b = (c.assigned for c in consumers)
            return bool(a) and bool(b) and len(a | b) == 3

        await eventually(shared, "the two consumers to share the partitions", timeout=90)
        written += await _write(store, range(CUSTOMERS), EVENTS_PER_CUSTOMER // 2)

        async def all_applied() -> bool:
            for task in tasks:
                if task.done():
                    task.result()  # a runner died: show why
            applied: int = await reader_pool.fetchval("SELECT count(*) FROM things")
            return applied >= total

        await eventually(all_applied, "every event to be applied", timeout=90)
        await asyncio.sleep(0.5)  # let a duplicate (wrongly) apply, if one were coming
        records = await read_topic(kafka, topic, at_least=total)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for producer in producers:
            await producer.stop()

    try:
        # Kafka: every event, in stream-version order per key, each stream on one partition.
        assert {header(r, "ce_id") for r in records} == {str(e.event_id) for e in written}
        versions: dict[str, list[int]] = defaultdict(list)
        partitions: dict[str, set[int]] = defaultdict(set)
        for r in records:
            versions[header(r, "ce_streamid")].append(int(header(r, "ce_streamversion")))
            partitions[r.key.decode()].add(r.partition)
        for stream, seen in versions.items():
            assert list(dict.fromkeys(seen)) == list(range(1, EVENTS_PER_CUSTOMER + 1)), stream
        assert all(len(p) == 1 for p in partitions.values())
        assert len(set().union(*partitions.values())) == 3

        # The read model: each event applied exactly once, by one of the two consumers.
        assert await reader_pool.fetchval("SELECT count(*) FROM things") == total
        totals = await reader_pool.fetch("SELECT stream_id, events FROM thing_totals")
        assert {r["stream_id"]: r["events"] for r in totals} == {
            f"replica-{c}": EVENTS_PER_CUSTOMER for c in range(CUSTOMERS)
        }
        assert sum(p.applied for p in projections) == total
        assert all(p.applied > 0 for p in projections), [p.applied for p in projections]
        lags = [
            s.value
            for family in REGISTRY.collect()
            if family.name == "consumer_lag_records"
            for s in family.samples
            if s.labels.get("consumer") == group
        ]
        assert lags
        assert set(lags) == {0}
    finally:
        await reader_pool.close()
