"""Rebuild every read model of a service from its events and say whether it equals the live one.

Projections of the service's own events are rebuilt from its event store, projections of other
services' events from their topics at offset 0 (`shared.rebuild`), each in a scratch schema that
is dropped afterwards. On a running system the live models may be a moment behind what the
rebuild read, so a model that differs is rebuilt once more after a short pause before the
difference is reported.

The live tables are not touched, unless asked to `replace` a model that still differs (after a
projection's bug was fixed, say): the model then gets the rebuilt rows, brought up to what its
live runner had applied, and the runner reads on from there: a model of the service's own events
(`shared.rebuild.replace_live`) or a Kafka consumer's copy (`shared.rebuild.replace_live_copy`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.audit.model import bulk_load
from shared.consumer import consumer_group
from shared.db import Pool
from shared.eventstore.postgres import PostgresEventStore
from shared.projections import Projection
from shared.rebuild import (
    RebuildReport,
    TopicsRead,
    drop_scratch,
    events_from_store,
    events_from_topics,
    rebuild,
    replace_live,
    replace_live_copy,
)
from shared.service import ServiceSpec


@dataclass(frozen=True, slots=True)
class ModelRebuild:
    projection: str
    source: str  # "store" or the topics
    report: RebuildReport
    seconds: float
    attempts: int
    replaced: bool = False  # the live tables now hold the rebuilt rows

    @property
    def identical(self) -> bool:
        return self.report.identical

    @property
    def rate(self) -> float:
        return self.report.events / self.seconds if self.seconds > 0 else 0.0


async def _once(
    pool: Pool, spec: ServiceSpec, projection: Projection, bootstrap: str | None
) -> tuple[RebuildReport, str | TopicsRead]:
    """The rebuild's report, and how far it read: the snapshot of the store, or the topics' offsets."""
    topics = getattr(projection, "topics", None)
    if projection in spec.kafka_projections:
        if bootstrap is None:
            raise ValueError(f"{projection.name} is built from Kafka: give the bootstrap servers")
        read = TopicsRead()
        events = events_from_topics(bootstrap, list(topics or ()), read)
        return await rebuild(pool, projection, events, applied=read.versions), read
    store = PostgresEventStore(pool, spec.registry)
    snapshots: list[str] = []
    events = events_from_store(
        store, event_types=getattr(projection, "event_types", None), on_snapshot=snapshots.append
    )
    with bulk_load():
        report = await rebuild(pool, projection, events)
    return report, snapshots[0]


async def _replace(
    pool: Pool, spec: ServiceSpec, projection: Projection, read: str | TopicsRead, bootstrap: str | None
) -> None:
    if isinstance(read, TopicsRead):
        assert bootstrap is not None  # (a rebuild from topics had it)
        await replace_live_copy(pool, bootstrap, projection, consumer_group(spec.name, projection.name), read)
    else:
        await replace_live(pool, PostgresEventStore(pool, spec.registry), projection, read)


async def rebuild_service(
    spec: ServiceSpec,
    pool: Pool,
    bootstrap: str | None,
    *,
    settle_s: float = 2.0,
    replace: bool = False,
    on_done: Callable[[ModelRebuild], None] | None = None,
) -> list[ModelRebuild]:
    results = []
    models: list[Projection] = [*spec.projections, *spec.kafka_projections]
    for projection in models:
        source = "store" if projection in spec.projections else ",".join(getattr(projection, "topics", ()))
        started = time.perf_counter()
        attempts = 1
        replaced = False
        try:
            report, read = await _once(pool, spec, projection, bootstrap)
            if not report.identical and settle_s > 0:
                await asyncio.sleep(settle_s)  # let the live runner catch up with what we read
                attempts = 2
                report, read = await _once(pool, spec, projection, bootstrap)
            if replace and not report.identical:
                await _replace(pool, spec, projection, read, bootstrap)
                replaced = True
        finally:
            await drop_scratch(pool, projection)
        seconds = time.perf_counter() - started
        result = ModelRebuild(projection.name, source, report, seconds, attempts, replaced)
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results
