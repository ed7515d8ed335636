"""Read models and the runner that keeps a service's own read models up to date.

A projection is a class with a `name`, the DDL of its tables (idempotent, unqualified table
names, so a rebuild can build the same tables in a scratch schema) and an `apply` that changes
those tables for one event. `apply` must depend on the event alone (never on `now()`, never on
the order of unrelated streams), so that a rebuild comes out identical to the live model.

`ProjectionRunner` follows the service's own event store: each batch is applied and the
projection's cursor saved in one transaction, under a lock on the cursor row, so a replica
started twice applies each event exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol

import structlog

from shared import metrics
from shared.db import Connection, Pool, PooledConnection
from shared.envelope import RecordedEvent
from shared.eventstore.positions import lock_cursor, save_cursor
from shared.eventstore.postgres import PostgresEventStore
from shared.relay import LAG_REPORT_INTERVAL_S, NOTIFY_CHANNEL, pending_events
from shared.waiting import Backoff, wait_any

log = structlog.get_logger(__name__)


class Projection(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def tables(self) -> Sequence[str]: ...
    @property
    def ddl(self) -> str: ...

    async def apply(self, conn: Connection, event: RecordedEvent) -> None: ...


async def ensure_tables(conn: Connection, projection: Projection) -> None:
    await conn.execute(projection.ddl)


class ProjectionRunner:
    def __init__(
        self, *, pool: Pool, store: PostgresEventStore, projection: Projection, batch_size: int = 1000
    ) -> None:
        self._pool = pool
        self._store = store
        self.projection = projection
        self.reader = f"projection:{projection.name}"
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._lag_reported_at = -1e9

    async def apply_round(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            cursor = await lock_cursor(conn, self.reader)
            batch = await self._store.read_batch(cursor, self._batch_size, conn=conn)
            for event in batch.events:
                await self.projection.apply(conn, event)
            if batch.events or batch.cursor != cursor:
                await save_cursor(conn, self.reader, batch.cursor)
        if batch.events:
            metrics.PROJECTION_EVENTS.labels(self.projection.name).inc(len(batch.events))
            metrics.PROJECTION_POSITION.labels(self.projection.name).set(max(e.position for e in batch.events))
        return len(batch.events)

    async def catch_up(self) -> int:
        total = 0
        while (n := await self.apply_round()) > 0:
            total += n
            # Measured at most once a second while behind: under load the count costs real time.
            if time.monotonic() - self._lag_reported_at >= LAG_REPORT_INTERVAL_S:
                self._lag_reported_at = time.monotonic()
                lag = await pending_events(self._pool, self.reader)
                metrics.PROJECTION_LAG.labels(self.projection.name).set(lag)
        # The last window came back empty: nothing committed before it is pending.
        metrics.PROJECTION_LAG.labels(self.projection.name).set(0)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        listener: PooledConnection | None = None
        backoff = Backoff()
        log.info("projection_started", projection=self.projection.name)
        try:
            while not stop.is_set():
                try:
                    if listener is None or listener.is_closed():
                        listener = await self._pool.acquire()
                        await listener.add_listener(NOTIFY_CHANNEL, self._on_notify)
                    self._wake.clear()
                    await self.catch_up()
                    await wait_any(self._wake, stop, timeout=2.0)
                    backoff.reset()
                except Exception as exc:
                    # Database or broker away, a poisoned batch: never let the worker die
                    # silently; log, back off, retry from the saved position.
                    log.error("projection_round_failed", projection=self.projection.name, error=repr(exc))
                    await backoff.wait(stop)
        finally:
            if listener is not None and not listener.is_closed():
                await listener.remove_listener(NOTIFY_CHANNEL, self._on_notify)
                await self._pool.release(listener)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()
