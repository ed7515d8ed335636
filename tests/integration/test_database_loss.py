"""A connection the database drops (a restart, a failover, an administrator) under the kernel's
pieces, on real PostgreSQL: the error that surfaces is the database's, so that the HTTP layer can
answer 503, and the event store's readers listen again instead of going deaf."""

from __future__ import annotations

import asyncio

import pytest

from shared import db
from shared.eventstore.notifications import NOTIFY_CHANNEL, run_on_commits
from shared.eventstore.postgres import PostgresEventStore
from shared.unit_of_work import UnitOfWork
from tests.support.events import registry
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _terminate(pool: db.Pool, pid: int) -> bool:
    """What an administrator's pg_terminate_backend, a restart or a failover does to a session."""
    async with pool.acquire() as conn:
        # (With a timeout it returns once the backend is gone, not when it was signalled: until
        # then pg_stat_activity still lists it, and a test looking for its successor finds it.)
        terminated: bool = await conn.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
    return terminated


async def _the_listener(pool: db.Pool) -> int | None:
    """The backend of the one connection that LISTENs, if there is exactly one."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
    return rows[0]["pid"] if len(rows) == 1 else None


async def test_a_unit_of_work_dropped_in_the_middle_of_a_statement_raises_the_databases_error(
    pool: db.Pool,
) -> None:
    async def dropped_while_running() -> None:
        async with UnitOfWork(pool, PostgresEventStore(pool, registry)) as tx:
            await tx.connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    with pytest.raises(Exception) as raised:  # noqa: PT011 (the point is which one comes out)
        await dropped_while_running()
    assert db.is_outage(raised.value), repr(raised.value)
    await _pool_is_whole(pool)


async def test_a_unit_of_work_dropped_between_statements_raises_an_outage(pool: db.Pool) -> None:
    async def dropped_while_idle() -> None:
        async with UnitOfWork(pool, PostgresEventStore(pool, registry)) as tx:
            assert await _terminate(pool, await tx.connection.fetchval("SELECT pg_backend_pid()"))

            async def noticed() -> bool:
                return not db.is_usable(tx.connection)

            await eventually(noticed, "asyncpg noticing the dropped connection", timeout=5)
            await tx.connection.fetchval("SELECT 1")

    with pytest.raises(Exception) as raised:  # noqa: PT011
        await dropped_while_idle()
    assert db.is_outage(raised.value), repr(raised.value)
    await _pool_is_whole(pool)


async def _pool_is_whole(pool: db.Pool) -> None:
    """The pool lost a connection, not its slot: it goes on handing out working ones."""
    size = pool.get_max_size()
    assert await asyncio.gather(*(pool.fetchval("SELECT 1") for _ in range(size))) == [1] * size


async def test_a_reader_whose_listening_connection_is_dropped_listens_on_a_new_one(pool: db.Pool) -> None:
    rounds = 0

    async def read() -> None:
        nonlocal rounds
        rounds += 1

    stop = asyncio.Event()
    # The fallback poll is far away: only a notification (or the loss of the connection) wakes it.
    reader = asyncio.create_task(run_on_commits(pool, read, stop, reader="test", poll_s=120))
    try:
        first = await eventually(lambda: _the_listener(pool), "the reader listening")
        assert await _terminate(pool, first)

        second = await eventually(lambda: _the_listener(pool), "the reader listening again", timeout=10)
        assert second != first
        before = rounds

        async def read_again() -> bool:
            return rounds > before

        await pool.execute(f"NOTIFY {NOTIFY_CHANNEL}")
        await eventually(read_again, "a round after the notification", timeout=5)
    finally:
        stop.set()
        await asyncio.wait_for(reader, 10)
