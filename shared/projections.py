"""Read models and the runner that keeps a service's own read models up to date.

A projection is a class with a `name`, the DDL of its tables (idempotent, unqualified table
names, so a rebuild can build the same tables in a scratch schema) and an `apply` that changes
those tables for one event. `apply` must depend on the event alone (never on `now()`, never on
the order of unrelated streams), so that a rebuild comes out identical to the live model.
Optionally it names the only `event_types` its `apply` looks at (a rebuild from the store then
reads just those) and folds its tables in memory (`BulkProjection`, for fast rebuilds).

`ProjectionRunner` follows the service's own event store: each batch is applied and the
projection's cursor saved in one transaction, under a lock on the cursor row, so a replica
started twice applies each event exactly once. Like the relay, a busy runner lingers a few
milliseconds between rounds so that rounds carry more events each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import structlog

from shared import metrics
from shared.db import Connection, Pool
from shared.envelope import RecordedEvent
from shared.eventstore.cursor import Cursor
from shared.eventstore.notifications import run_on_commits
from shared.eventstore.port import EventBatch
from shared.eventstore.positions import ReaderLag, lock_cursor, save_cursor
from shared.eventstore.postgres import PostgresEventStore
from shared.relay import BUSY_LINGER_S

log = structlog.get_logger(__name__)


class Projection(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def tables(self) -> Sequence[str]: ...
    @property
    def ddl(self) -> str: ...

    async def apply(self, conn: Connection, event: RecordedEvent) -> None: ...


class BulkFold(Protocol):
    """A projection's tables folded in memory (pure), for a rebuild: no statement per event."""

    def apply(self, event: RecordedEvent) -> None: ...

    def rows(self) -> Mapping[str, Sequence[Sequence[Any]]]:
        """Per table, every row whole, in the table's column order (as `COPY` takes them)."""
        ...


@runtime_checkable
class BulkProjection(Projection, Protocol):
    """Optional: a projection that can also fold its tables in memory. The rows must equal those
    its `apply` leaves, event for event; `shared.rebuild` uses the fold and proves it by comparing."""

    def bulk_fold(self) -> BulkFold: ...


def runner_reader(projection: Projection) -> str:
    """The name its runner's cursor goes by in `reader_positions`."""
    return f"projection:{projection.name}"


async def apply_batch(
    conn: Connection, store: PostgresEventStore, projection: Projection, cursor: Cursor, limit: int
) -> EventBatch:
    """Read the events after `cursor` (up to `limit`) and apply them, in the caller's transaction;
    the batch says what was applied and where reading goes on."""
    batch = await store.read_batch(cursor, limit, conn=conn)
    for event in batch.events:
        await projection.apply(conn, event)
    return batch


class ProjectionRunner:
    def __init__(
        self,
        *,
        pool: Pool,
        store: PostgresEventStore,
        projection: Projection,
        batch_size: int = 1000,
        linger_s: float = BUSY_LINGER_S,
    ) -> None:
        self._pool = pool
        self._store = store
        self.projection = projection
        self.reader = runner_reader(projection)
        self._batch_size = batch_size
        self._linger_s = linger_s
        self._lag = ReaderLag(pool, self.reader, metrics.PROJECTION_LAG.labels(projection.name))

    async def apply_round(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            cursor = await lock_cursor(conn, self.reader)
            batch = await apply_batch(conn, self._store, self.projection, cursor, self._batch_size)
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
            await self._lag.behind()
            if n < self._batch_size:
                await asyncio.sleep(self._linger_s)
        self._lag.caught_up()
        return total

    async def run(self, stop: asyncio.Event) -> None:
        log.info("projection_started", projection=self.projection.name)
        await run_on_commits(self._pool, self.catch_up, stop, reader=self.reader, poll_s=2.0)
