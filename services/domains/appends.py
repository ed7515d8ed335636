"""Group commit for the simple commands' appends: one statement for the commands waiting.

Every new vhost or redirect is one event, and committing each alone costs a WAL flush and a
commit-time NOTIFY (which PostgreSQL serialises across committing transactions), and a statement
per append costs a round trip and its parse and plan. Appends therefore queue while one write is
under way (`shared.group_commit`), and the next write appends all of them in one statement
(`PostgresEventStore.append_many`: each stream with its own expected version and envelope, one
implicit transaction); a command is answered only once it committed.

An append whose stream moved on (another replica appended to it) is refused alone and its
command decides again; the rest of the group is written. If a concurrent writer took one of
the versions meanwhile (a unique violation), nothing of the group was written: each append is
then tried alone, so only the loser gets its `ConcurrencyConflict`. Commands of one process never
race for one stream (they take turns, see `states.py`), so a group names each stream once.

No caller holds a pooled connection while it waits here (the writer takes one of its own), so
an exhausted pool cannot deadlock.
"""

from __future__ import annotations

from shared.db import Pool
from shared.envelope import RecordedEvent
from shared.errors import ConcurrencyConflict
from shared.eventstore.postgres import PostgresEventStore, StreamAppend
from shared.group_commit import GroupWriter

_Outcome = list[RecordedEvent] | Exception


class GroupAppender:
    def __init__(self, pool: Pool, store: PostgresEventStore, *, max_group: int = 100) -> None:
        self._pool = pool
        self._store = store
        self._group: GroupWriter[StreamAppend, list[RecordedEvent]] = GroupWriter(
            self._write_group, name="domains-group-append", max_group=max_group
        )

    async def append(self, item: StreamAppend) -> list[RecordedEvent]:
        """Recorded with the next group; raises what `PostgresEventStore.append` would."""
        return await self._group.submit(item)

    async def _write_group(self, group: list[StreamAppend]) -> list[_Outcome]:
        if len(group) == 1 or len({item.stream_id for item in group}) < len(group):
            # (a stream twice in one group should not happen, see above; if it does, in order)
            return [await self._alone(item) for item in group]
        try:
            async with self._pool.acquire() as conn:
                return list(await self._store.append_many(group, conn=conn))
        except ConcurrencyConflict:
            # Nothing was written; the loser finds out alone.
            return [await self._alone(item) for item in group]

    async def _alone(self, item: StreamAppend) -> _Outcome:
        try:
            async with self._pool.acquire() as conn:
                return await self._store.append(
                    item.stream_id,
                    item.expected_version,
                    item.events,
                    item.context,
                    conn=conn,
                    previous_hash=item.previous_hash,
                )
        except Exception as exc:
            return exc
