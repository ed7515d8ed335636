"""The event store contract, run against the PostgreSQL store and the in-memory one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.errors import ConcurrencyConflict
from shared.eventstore.cursor import Cursor
from shared.eventstore.memory import InMemoryEventStore
from shared.eventstore.postgres import PostgresEventStore
from tests.conftest import fresh_pool
from tests.support.context import context
from tests.support.events import ThingHappened, registry

pytestmark = pytest.mark.integration


@pytest.fixture(params=["postgres", "memory"])
async def store(request: pytest.FixtureRequest, pg_server: str) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield InMemoryEventStore(registry)
        return
    pool = await fresh_pool(pg_server)
    yield PostgresEventStore(pool, registry)
    await pool.close()


async def test_append_then_load_returns_events_in_version_order(store: Any) -> None:
    ctx = context("100001")
    await store.append("s-1", 0, [ThingHappened(1), ThingHappened(2)], ctx)
    await store.append("s-1", 2, [ThingHappened(3)], ctx)
    stream = await store.load("s-1")
    assert stream.version == 3
    assert [registry.decode(e) for e in stream.events] == [ThingHappened(1), ThingHappened(2), ThingHappened(3)]
    first = stream.events[0]
    assert first.customer_number == "100001"
    assert first.correlation_id == ctx.correlation_id
    assert str(first.actor) == "staff:tester"
    assert first.qualified_type == "ThingHappened.v1"


async def test_unknown_stream_loads_empty_at_version_zero(store: Any) -> None:
    stream = await store.load("nobody")
    assert stream.version == 0
    assert list(stream.events) == []


@pytest.mark.parametrize("expected", [0, 1, 3, 7])
async def test_wrong_expected_version_conflicts_and_appends_nothing(store: Any, expected: int) -> None:
    await store.append("s-2", 0, [ThingHappened(1), ThingHappened(2)], context())
    with pytest.raises(ConcurrencyConflict):
        await store.append("s-2", expected, [ThingHappened(99)], context())
    stream = await store.load("s-2")
    assert stream.version == 2


async def test_new_stream_must_be_created_at_version_zero(store: Any) -> None:
    with pytest.raises(ConcurrencyConflict):
        await store.append("s-3", 1, [ThingHappened(1)], context())
    assert (await store.load("s-3")).version == 0


async def test_read_batch_pages_through_everything_once(store: Any) -> None:
    for i in range(25):
        await store.append(f"s-{i % 4}", i // 4, [ThingHappened(i)], context())
    seen: list[int] = []
    cursor = Cursor.start()
    for _ in range(20):
        batch = await store.read_batch(cursor, 7)
        seen.extend(registry.decode(e).n for e in batch.events)  # type: ignore[attr-defined]
        cursor = batch.cursor
        if not batch.events and batch.window_complete:
            break
    assert sorted(seen) == list(range(25))


async def test_read_batch_of_some_types_pages_past_the_others(pg_server: str) -> None:
    # (PostgreSQL's: contacts' follower reads only the authorization events of a busy store.)
    pool = await fresh_pool(pg_server)
    try:
        store = PostgresEventStore(pool, registry)
        for i in range(12):
            await store.append(f"s-{i % 3}", i // 3, [ThingHappened(i)], context())

        async def read_all(cursor: Cursor, types: set[str]) -> tuple[list[int], Cursor]:
            seen: list[int] = []
            while True:
                batch = await store.read_batch(cursor, 5, event_types=types)
                seen += [registry.decode(e).n for e in batch.events]  # type: ignore[attr-defined]
                cursor = batch.cursor
                if batch.window_complete:
                    return seen, cursor

        none, cursor = await read_all(Cursor.start(), {"SomethingElse"})
        assert none == []
        for i in range(12, 15):
            await store.append(f"s-{i % 3}", i // 3, [ThingHappened(i)], context())
        later, _ = await read_all(cursor, {"ThingHappened"})
        assert later == [12, 13, 14]  # past the twelve it skipped, nothing again
    finally:
        await pool.close()


async def test_fifty_concurrent_writers_one_winner_per_version(store: Any) -> None:
    await store.append("race", 0, [ThingHappened(0)], context())

    async def write(i: int) -> bool:
        try:
            await store.append("race", 1, [ThingHappened(i)], context())
        except ConcurrencyConflict:
            return False
        return True

    results = await asyncio.gather(*(write(i) for i in range(1, 51)))
    assert results.count(True) == 1
    stream = await store.load("race")
    assert stream.version == 2
