"""An in-process copy of the authorization read model, following the event store.

The check is the hot path. Instead of three queries per check, each API process keeps the
authorization model in memory (`AuthorizationMemory`, the same fold and the same `decide` as
everywhere) and follows the store with a snapshot cursor of its own, woken by the store's
commit notification. Nothing is persisted: a process loads the model when it starts (before it
answers anything; one bulk read, `shared.authorization.loading`) and follows from there. The
PostgreSQL projection stays the durable, rebuildable read model for listings, history and
consumers.

Freshness: a commit is visible once the notification arrived and the batch was read (about a
millisecond on one machine). A check that must not miss a change confirmed before it arrived
(support's, which is recorded and acted on) first awaits `caught_up`: a read of the store begun
after it arrived. Checks arriving together share that read. Memory grows with the data set (roughly
1 KB per grant); `CONTACTS_AUTHZ_READER=sql` switches the check back to the tables.
"""

from __future__ import annotations

import asyncio

import structlog

from shared.authorization.contract import AUTHORIZATION_EVENT_TYPES
from shared.authorization.loading import load_authorizations
from shared.authorization.memory import AuthorizationMemory
from shared.db import Pool
from shared.eventstore.cursor import Cursor
from shared.eventstore.notifications import run_on_commits
from shared.eventstore.postgres import PostgresEventStore

log = structlog.get_logger(__name__)


class AuthorizationFollower:
    def __init__(self, pool: Pool, store: PostgresEventStore, *, batch_size: int = 5000) -> None:
        self.memory = AuthorizationMemory()
        self._pool = pool
        self._store = store
        self._cursor = Cursor.start()
        self._batch_size = batch_size
        self._lock = asyncio.Lock()
        self._reads_begun = 0  # reads of the store begun, numbered from 1
        self._last_read = 0  # the number of the last one that read to the end

    async def load(self) -> int:
        """Fold everything committed so far in one bulk read (at start); returns the events folded."""
        async with self._lock:
            self._cursor, events = await load_authorizations(self._store, self.memory)
        return events

    async def catch_up(self) -> int:
        """Apply everything committed so far; returns how many events were read."""
        async with self._lock:  # one reader of the cursor at a time
            return await self._read_to_end()

    async def caught_up(self) -> None:
        """Return once the model holds every change committed before this call, so that an answer
        given after it never contradicts a change whose commit was confirmed before the question
        arrived: a read begun after the call has completed. Callers waiting meanwhile for the
        reader's lock are served by one such read, not one each."""
        asked = self._reads_begun
        async with self._lock:
            if self._last_read <= asked:
                await self._read_to_end()

    async def _read_to_end(self) -> int:
        """(With the lock held.)"""
        self._reads_begun += 1
        number = self._reads_begun
        total = 0
        while True:
            # (Only what the model folds: support's recorded checks are most of a busy store.)
            batch = await self._store.read_batch(self._cursor, self._batch_size, event_types=AUTHORIZATION_EVENT_TYPES)
            for event in batch.events:
                self.memory.apply(event)
            self._cursor = batch.cursor
            total += len(batch.events)
            if batch.window_complete:
                self._last_read = number
                return total

    async def run(self) -> None:
        # Ends when the service closes its pool (hooks have no stop signal of their own).
        await run_on_commits(self._pool, self.catch_up, asyncio.Event(), reader="authorization-follower", poll_s=1.0)
