"""Group commit for the simple commands' appends: one transaction for the commands waiting.

Every new vhost or redirect is one event, and committing each alone costs a WAL flush and a
commit-time NOTIFY (which PostgreSQL serialises across committing transactions). Appends
therefore queue while one transaction commits, and the next transaction writes all of them,
each its own statement with its own expected version and envelope; a command is answered only
once that transaction committed.

A lone append is written by itself, without BEGIN/COMMIT (the INSERT is atomic). If one append
of a group is refused (another replica appended to that stream), nothing of the group was
written: each append is then tried alone, so only the loser gets its `ConcurrencyConflict` and
decides again. Commands of one process never race for one stream (they take turns, see
`states.py`), so that is rare.

No caller holds a pooled connection while it waits here (the writer takes one of its own), so
an exhausted pool cannot deadlock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.db import Pool, PooledConnection
from shared.envelope import DomainEvent, EventContext, RecordedEvent
from shared.errors import ConcurrencyConflict
from shared.eventstore.postgres import PostgresEventStore


@dataclass
class _Append:
    stream_id: str
    expected_version: int
    events: Sequence[DomainEvent]
    context: EventContext
    previous_hash: bytes | None
    done: asyncio.Future[list[RecordedEvent]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupAppender:
    def __init__(self, pool: Pool, store: PostgresEventStore, *, max_group: int = 100) -> None:
        self._pool = pool
        self._store = store
        self._max_group = max_group
        self._pending: list[_Append] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: EventContext,
        previous_hash: bytes | None,
    ) -> list[RecordedEvent]:
        item = _Append(stream_id, expected_version, events, context, previous_hash)
        self._pending.append(item)
        if self._writer is None or self._writer.done():  # one writer, running only while needed
            self._writer = asyncio.create_task(self._drain(), name="domains-group-append")
        return await item.done

    async def _drain(self) -> None:
        while self._pending:
            group, self._pending = self._pending[: self._max_group], self._pending[self._max_group :]
            try:
                if len(group) == 1:
                    await self._alone(group[0])
                else:
                    await self._together(group)
            except Exception as exc:  # every waiting command gets the failure, none hangs
                for item in group:
                    _settle(item, exc)

    async def _together(self, group: list[_Append]) -> None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                written = [await self._write(conn, item) for item in group]
        except ConcurrencyConflict:
            for item in group:  # nothing was written; the loser finds out alone
                await self._alone(item)
            return
        for item, recorded in zip(group, written, strict=True):
            _settle(item, recorded)

    async def _alone(self, item: _Append) -> None:
        try:
            async with self._pool.acquire() as conn:
                recorded = await self._write(conn, item)
        except Exception as exc:
            _settle(item, exc)
        else:
            _settle(item, recorded)

    async def _write(self, conn: PooledConnection, item: _Append) -> list[RecordedEvent]:
        return await self._store.append(
            item.stream_id,
            item.expected_version,
            item.events,
            item.context,
            conn=conn,
            previous_hash=item.previous_hash,
        )


def _settle(item: _Append, outcome: list[RecordedEvent] | Exception) -> None:
    if item.done.done():  # the waiting request was cancelled (client gone)
        return
    if isinstance(outcome, Exception):
        item.done.set_exception(outcome)
    else:
        item.done.set_result(outcome)
