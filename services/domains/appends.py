"""Group commit for the simple commands' appends: one transaction for the commands waiting.

Every new vhost or redirect is one event, and committing each alone costs a WAL flush and a
commit-time NOTIFY (which PostgreSQL serialises across committing transactions). Appends
therefore queue while one transaction commits (`shared.group_commit`), and the next transaction writes all of them,
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

from collections.abc import Sequence
from dataclasses import dataclass

from shared.db import Pool, PooledConnection
from shared.envelope import DomainEvent, EventContext, RecordedEvent
from shared.errors import ConcurrencyConflict
from shared.eventstore.postgres import PostgresEventStore
from shared.group_commit import GroupWriter


@dataclass(frozen=True, slots=True)
class _Append:
    stream_id: str
    expected_version: int
    events: Sequence[DomainEvent]
    context: EventContext
    previous_hash: bytes | None


_Outcome = list[RecordedEvent] | Exception


class GroupAppender:
    def __init__(self, pool: Pool, store: PostgresEventStore, *, max_group: int = 100) -> None:
        self._pool = pool
        self._store = store
        self._group: GroupWriter[_Append, list[RecordedEvent]] = GroupWriter(
            self._write_group, name="domains-group-append", max_group=max_group
        )

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: EventContext,
        previous_hash: bytes | None,
    ) -> list[RecordedEvent]:
        return await self._group.submit(_Append(stream_id, expected_version, events, context, previous_hash))

    async def _write_group(self, group: list[_Append]) -> list[_Outcome]:
        if len(group) == 1:
            return [await self._alone(group[0])]
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                written: list[_Outcome] = [await self._write(conn, item) for item in group]
        except ConcurrencyConflict:
            # Nothing was written; the loser finds out alone.
            return [await self._alone(item) for item in group]
        return written

    async def _alone(self, item: _Append) -> _Outcome:
        try:
            async with self._pool.acquire() as conn:
                return await self._write(conn, item)
        except Exception as exc:
            return exc

    async def _write(self, conn: PooledConnection, item: _Append) -> list[RecordedEvent]:
        return await self._store.append(
            item.stream_id,
            item.expected_version,
            item.events,
            item.context,
            conn=conn,
            previous_hash=item.previous_hash,
        )
