"""An in-process copy of the authorization read model, following the event store.

The check is the hot path. Instead of three queries per check, each API process keeps the
authorization model in memory (`AuthorizationMemory`, the same fold and the same `decide` as
everywhere) and follows the store with a snapshot cursor of its own, woken by the store's
commit notification. Nothing is persisted: a process loads the model when it starts (before it
answers anything) and follows from there. The PostgreSQL projection stays the durable,
rebuildable read model for listings, history and consumers.

Freshness equals the projection's: a commit is visible once the notification arrived and the
batch was read (about a millisecond on one machine). Memory grows with the data set (roughly
1 KB per grant); `CONTACTS_AUTHZ_READER=sql` switches the check back to the tables.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from shared.authorization.memory import AuthorizationMemory
from shared.db import Pool, PooledConnection
from shared.eventstore.cursor import Cursor
from shared.eventstore.postgres import PostgresEventStore
from shared.relay import NOTIFY_CHANNEL
from shared.waiting import wait_any

log = structlog.get_logger(__name__)


class AuthorizationFollower:
    def __init__(self, pool: Pool, store: PostgresEventStore, *, batch_size: int = 5000) -> None:
        self.memory = AuthorizationMemory()
        self._pool = pool
        self._store = store
        self._cursor = Cursor.start()
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    async def catch_up(self) -> int:
        """Apply everything committed so far; returns how many events were read."""
        total = 0
        async with self._lock:  # one reader of the cursor at a time
            while True:
                batch = await self._store.read_batch(self._cursor, self._batch_size)
                for event in batch.events:
                    self.memory.apply(event)
                self._cursor = batch.cursor
                total += len(batch.events)
                if batch.window_complete:
                    return total

    async def run(self) -> None:
        # Ends when the service closes its pool (hooks have no stop signal of their own).
        listener: PooledConnection | None = None
        try:
            while not self._pool.is_closing():
                try:
                    if listener is None or listener.is_closed():
                        listener = await self._pool.acquire()
                        await listener.add_listener(NOTIFY_CHANNEL, self._on_notify)
                    self._wake.clear()
                    await self.catch_up()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    if self._pool.is_closing():
                        return
                    log.warning("authorization_follower_failed", error=repr(exc))
                await wait_any(self._wake, timeout=1.0)
        finally:
            # Always give the connection back: the pool's close() waits for every connection.
            if listener is not None:
                if not listener.is_closed():
                    await listener.remove_listener(NOTIFY_CHANNEL, self._on_notify)
                await self._pool.release(listener)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()
