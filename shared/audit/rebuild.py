"""Rebuild every read model of a service from its events and say whether it equals the live one.

Projections of the service's own events are rebuilt from its event store, projections of other
services' events from their topics at offset 0 (`shared.rebuild`), each in a scratch schema that
is dropped afterwards; the live tables are not touched. On a running system the live models may
be a moment behind what the rebuild read, so a model that differs is rebuilt once more after a
short pause before the difference is reported.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.audit.model import bulk_load
from shared.db import Pool
from shared.eventstore.postgres import PostgresEventStore
from shared.projections import Projection
from shared.rebuild import RebuildReport, drop_scratch, events_from_store, events_from_topics, rebuild
from shared.service import ServiceSpec


@dataclass(frozen=True, slots=True)
class ModelRebuild:
    projection: str
    source: str  # "store" or the topics
    report: RebuildReport
    seconds: float
    attempts: int

    @property
    def identical(self) -> bool:
        return self.report.identical

    @property
    def rate(self) -> float:
        return self.report.events / self.seconds if self.seconds > 0 else 0.0


async def _once(pool: Pool, spec: ServiceSpec, projection: Projection, bootstrap: str | None) -> RebuildReport:
    topics = getattr(projection, "topics", None)
    if projection in spec.kafka_projections:
        if bootstrap is None:
            raise ValueError(f"{projection.name} is built from Kafka: give the bootstrap servers")
        return await rebuild(pool, projection, events_from_topics(bootstrap, list(topics or ())))
    store = PostgresEventStore(pool, spec.registry)
    events = events_from_store(store, event_types=getattr(projection, "event_types", None))
    with bulk_load():
        return await rebuild(pool, projection, events)


async def rebuild_service(
    spec: ServiceSpec,
    pool: Pool,
    bootstrap: str | None,
    *,
    settle_s: float = 2.0,
    on_done: Callable[[ModelRebuild], None] | None = None,
) -> list[ModelRebuild]:
    results = []
    models: list[Projection] = [*spec.projections, *spec.kafka_projections]
    for projection in models:
        source = "store" if projection in spec.projections else ",".join(getattr(projection, "topics", ()))
        started = time.perf_counter()
        attempts = 1
        try:
            report = await _once(pool, spec, projection, bootstrap)
            if not report.identical and settle_s > 0:
                await asyncio.sleep(settle_s)  # let the live runner catch up with what we read
                attempts = 2
                report = await _once(pool, spec, projection, bootstrap)
        finally:
            await drop_scratch(pool, projection)
        result = ModelRebuild(projection.name, source, report, time.perf_counter() - started, attempts)
        results.append(result)
        if on_done is not None:
            on_done(result)
    return results
