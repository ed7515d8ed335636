"""The unit of work: one PostgreSQL transaction around a command's reads and appends.

Events, any private rows the service writes beside them (password hashes, for example) and
tracking positions commit together or not at all. It rolls back unless `commit()` was called.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Self

from asyncpg.transaction import Transaction

from shared.db import Connection, Pool, PooledConnection, is_usable
from shared.envelope import DomainEvent, EventContext, RecordedEvent
from shared.eventstore.port import Stream
from shared.eventstore.postgres import PostgresEventStore


class UnitOfWork:
    def __init__(self, pool: Pool, store: PostgresEventStore) -> None:
        self._pool = pool
        self._store = store
        self._conn: PooledConnection | None = None
        self._tx: Transaction | None = None
        self.recorded: list[RecordedEvent] = []
        # Stream heads seen in this unit of work: their chain hash saves a lookup on append.
        self._heads: dict[str, tuple[int, bytes]] = {}

    @property
    def connection(self) -> Connection:
        assert self._conn is not None, "unit of work not entered"
        return self._conn

    async def __aenter__(self) -> Self:
        self._conn = await self._pool.acquire()
        self._tx = self._conn.transaction()
        try:
            await self._tx.start()
        except BaseException:
            await self._give_back(quietly=True)
            raise
        self.recorded = []
        self._heads = {}
        return self

    async def load(self, stream_id: str) -> Stream:
        stream = await self._store.load(stream_id, conn=self.connection)
        if stream.events:
            self._heads[stream_id] = (stream.version, stream.events[-1].chain_hash)
        return stream

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: EventContext,
        *,
        previous_hash: bytes | None = None,
    ) -> list[RecordedEvent]:
        """`previous_hash`: the chain hash at `expected_version` when the caller read it without
        `load` (the insert checks it); otherwise the head seen by `load` is used, if any."""
        head = self._heads.get(stream_id)
        if previous_hash is None and head is not None and head[0] == expected_version:
            previous_hash = head[1]
        recorded = await self._store.append(
            stream_id, expected_version, events, context, conn=self.connection, previous_hash=previous_hash
        )
        if recorded:
            self._heads[stream_id] = (recorded[-1].stream_version, recorded[-1].chain_hash)
        self.recorded.extend(recorded)
        return recorded

    async def commit(self) -> None:
        assert self._tx is not None
        await self._tx.commit()
        self._tx = None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._tx is not None and self._conn is not None and is_usable(self._conn):
                with _quiet(exc is not None):
                    await self._tx.rollback()
        finally:
            await self._give_back(quietly=exc is not None)

    async def _give_back(self, *, quietly: bool) -> None:
        self._tx = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with _quiet(quietly):  # (asyncpg terminates a connection it cannot reset: the slot comes back)
                await self._pool.release(conn)


def _quiet(while_failing: bool) -> contextlib.AbstractContextManager[object]:
    """Errors of the clean-up suppressed while another error is on its way out: that one is the
    news, and a rollback on a connection that broke under it fails too (the transaction is gone)."""
    return contextlib.suppress(Exception) if while_failing else contextlib.nullcontext()


class UnitOfWorkFactory:
    def __init__(self, pool: Pool, store: PostgresEventStore) -> None:
        self.pool = pool
        self.store = store

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self.pool, self.store)
