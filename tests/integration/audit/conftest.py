"""Helpers for the audit's integration tests: scratch topics, writing generated histories through
real event stores, publishing them with the real relay."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Sequence

from shared.db import Pool
from shared.eventstore.postgres import PostgresEventStore
from shared.infra.kafka import TopicSpec, ensure_topics
from shared.kafka import SERVICES, idempotent_producer
from shared.registry import EventRegistry
from shared.relay import OutboxRelay
from shared.unit_of_work import UnitOfWorkFactory
from tests.unit.audit.history import Append


async def scratch_topics(kafka: str, partitions: int = 3) -> dict[str, str]:
    """Four fresh event topics (service -> topic), created like the public ones."""
    tag = uuid.uuid4().hex[:8]
    topics = {s: f"audit-{tag}-{s}.events" for s in SERVICES}
    await ensure_topics(
        kafka, [TopicSpec(t, partitions=partitions, configs={"retention.ms": "-1"}) for t in topics.values()]
    )
    return topics


async def write(pool: Pool, registry: EventRegistry, appends: Sequence[Append], *, concurrency: int = 6) -> int:
    """Append through the real store, one transaction per customer (its appends in order)."""
    store = PostgresEventStore(pool, registry)
    uow = UnitOfWorkFactory(pool, store)
    by_customer: dict[str, list[Append]] = defaultdict(list)
    for append in appends:
        by_customer[append.context.customer_number].append(append)
    versions: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)
    written = 0

    async def one(items: list[Append]) -> None:
        nonlocal written
        async with gate, uow() as tx:
            for a in items:
                version = versions.get(a.stream_id, 0)
                recorded = await tx.append(a.stream_id, version, a.events, a.context)
                versions[a.stream_id] = version + len(recorded)
                written += len(recorded)
            await tx.commit()

    await asyncio.gather(*(one(items) for items in by_customer.values()))
    return written


async def relay(pool: Pool, registry: EventRegistry, kafka: str, service: str, topic: str) -> int:
    """Publish everything committed in the store to `topic` with the kernel's relay."""
    producer = idempotent_producer(kafka, f"audit-test-{service}")
    await producer.start()
    try:
        return await OutboxRelay(
            service=service, pool=pool, store=PostgresEventStore(pool, registry), producer=producer, topic=topic
        ).drain()
    finally:
        await producer.stop()
