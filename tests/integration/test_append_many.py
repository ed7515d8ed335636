"""`PostgresEventStore.append_many`: several streams in one statement, each with its own guards."""

from __future__ import annotations

import asyncio

import pytest

from shared.db import Pool
from shared.errors import ConcurrencyConflict
from shared.eventstore.chain import GENESIS, canonical_of_row, link
from shared.eventstore.postgres import PostgresEventStore, StreamAppend
from tests.support.context import context
from tests.support.events import ThingHappened, registry

pytestmark = pytest.mark.integration


async def _chain_holds(pool: Pool, stream_id: str) -> None:
    previous = GENESIS
    for row in await pool.fetch("SELECT * FROM events WHERE stream_id = $1 ORDER BY stream_version", stream_id):
        previous = link(previous, canonical_of_row(row))
        assert previous == row["chain_hash"], (stream_id, row["stream_version"])


async def test_several_streams_are_written_in_one_statement_as_single_appends_would(pool: Pool) -> None:
    store = PostgresEventStore(pool, registry)
    old = await store.append("m-old", 0, [ThingHappened(1)], context("100001"))
    before = await store.append("m-nohash", 0, [ThingHappened(1), ThingHappened(2)], context("100002"))
    appends = [
        StreamAppend("m-new", 0, [ThingHappened(10), ThingHappened(11)], context("100003", request_id="a")),
        StreamAppend("m-old", 1, [ThingHappened(2)], context("100001"), old[-1].chain_hash),
        StreamAppend("m-nohash", 2, [ThingHappened(3)], context("100002")),  # head read by the store
        StreamAppend("m-empty", 0, [], context("100004")),
    ]
    outcomes = await store.append_many(appends)

    assert [[e.stream_version for e in o] for o in outcomes if isinstance(o, list)] == [[1, 2], [2], [3], []]
    for appended, outcome in zip(appends, outcomes, strict=True):
        assert isinstance(outcome, list)
        loaded = await store.load(appended.stream_id)
        assert list(loaded.events[-len(outcome) :] if outcome else []) == outcome  # what it returned is stored
        if outcome:
            assert outcome[0].customer_number == appended.context.customer_number
            assert [registry.decode(e) for e in outcome] == list(appended.events)
        await _chain_holds(pool, appended.stream_id)
    transactions = await pool.fetchval(
        "SELECT count(DISTINCT transaction_id) FROM events WHERE stream_id = ANY($1) AND position > $2",
        ["m-new", "m-old", "m-nohash"],
        before[-1].position,
    )
    assert transactions == 1


@pytest.mark.parametrize("stale", ["behind", "ahead", "exists", "wrong_hash"])
async def test_a_stale_append_is_refused_alone_and_the_others_are_written(pool: Pool, stale: str) -> None:
    store = PostgresEventStore(pool, registry)
    head = await store.append("s-stale", 0, [ThingHappened(1), ThingHappened(2)], context())
    expected, previous = {
        "behind": (1, None),
        "ahead": (3, None),
        "exists": (0, None),
        "wrong_hash": (2, b"\x01" * 32),
    }[stale]
    outcomes = await store.append_many(
        [
            StreamAppend("s-fine-1", 0, [ThingHappened(1)], context()),
            StreamAppend("s-stale", expected, [ThingHappened(99)], context(), previous),
            StreamAppend("s-fine-2", 0, [ThingHappened(2)], context()),
        ]
    )
    assert isinstance(outcomes[1], ConcurrencyConflict)
    assert [o[0].stream_version for o in (outcomes[0], outcomes[2]) if isinstance(o, list)] == [1, 1]
    assert list((await store.load("s-stale")).events) == head


async def test_a_version_taken_meanwhile_fails_the_whole_statement(pool: Pool) -> None:
    store = PostgresEventStore(pool, registry)
    head = await store.append("s-race", 0, [ThingHappened(1)], context())
    async with pool.acquire() as rival, rival.transaction():
        # Another writer holds version 2 uncommitted: the statement waits for it, then collides.
        await store.append("s-race", 1, [ThingHappened(2)], context(), conn=rival)
        many = asyncio.create_task(
            store.append_many(
                [
                    StreamAppend("s-bystander", 0, [ThingHappened(1)], context()),
                    StreamAppend("s-race", 1, [ThingHappened(3)], context(), head[-1].chain_hash),
                ]
            )
        )
        await asyncio.sleep(0.3)
        assert not many.done()  # waiting on the rival's uncommitted row
    with pytest.raises(ConcurrencyConflict):
        await many
    assert (await store.load("s-bystander")).version == 0  # nothing of the group was written
    assert [registry.decode(e) for e in (await store.load("s-race")).events] == [ThingHappened(1), ThingHappened(2)]


async def test_a_stream_named_twice_is_refused(pool: Pool) -> None:
    store = PostgresEventStore(pool, registry)
    twice = [StreamAppend("s-twice", 0, [ThingHappened(1)], context())] * 2
    with pytest.raises(ValueError, match="at most once"):
        await store.append_many(twice)
    assert (await store.load("s-twice")).version == 0
