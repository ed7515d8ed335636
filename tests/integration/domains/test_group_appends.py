"""Group commit of the simple commands' appends (`services/domains/appends.py`).

Appends waiting together commit in one transaction; one refused append (another replica got
there first) costs only its own command, never the group's; a waiter that went away leaves the
others alone.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from services.domains.appends import GroupAppender
from services.domains.domain.events import VhostCreated, registry
from shared.db import Pool
from shared.envelope import Actor, ActorKind, EventContext
from shared.errors import ConcurrencyConflict
from shared.eventstore.postgres import PostgresEventStore, StreamAppend

pytestmark = pytest.mark.integration


def _context() -> EventContext:
    return EventContext("10000001", Actor(ActorKind.CUSTOMER, "10000001"), datetime.now(UTC), uuid.uuid4())


def _vhost(domain: str) -> list[VhostCreated]:
    return [VhostCreated(domain=domain, vhost=f"www.{domain}")]


def _new(domain: str) -> StreamAppend:
    """A vhost as the domain stream's first event."""
    return StreamAppend(f"domain-{domain}", 0, _vhost(domain), _context())


async def test_waiting_appends_commit_together_and_a_loser_fails_alone(pool: Pool) -> None:
    store = PostgresEventStore(pool, registry)
    appender = GroupAppender(pool, store)
    domains = [f"g{i}-{uuid.uuid4().hex[:6]}.de" for i in range(12)]
    first = await asyncio.gather(*(appender.append(_new(d)) for d in domains))
    assert [r[0].stream_version for r in first] == [1] * 12
    transactions = await pool.fetchval(
        "SELECT count(DISTINCT transaction_id) FROM events WHERE stream_id = ANY($1)", [f"domain-{d}" for d in domains]
    )
    assert transactions < 12  # they waited together and committed together

    # One of the next group is stale (another replica appended version 2 meanwhile).
    await store.append(f"domain-{domains[0]}", 1, _vhost(domains[0]), _context())
    second = await asyncio.gather(
        *(
            appender.append(StreamAppend(f"domain-{d}", 1, _vhost(d), _context(), first[i][0].chain_hash))
            for i, d in enumerate(domains)
        ),
        return_exceptions=True,
    )
    assert isinstance(second[0], ConcurrencyConflict)
    assert [r[0].stream_version for r in second[1:]] == [2] * 11  # type: ignore[index]
    versions = await pool.fetch(
        "SELECT stream_id, max(stream_version) AS v FROM events WHERE stream_id = ANY($1) GROUP BY stream_id",
        [f"domain-{d}" for d in domains],
    )
    assert sorted(r["v"] for r in versions) == [2] * 12


async def test_a_waiter_that_went_away_leaves_the_others_alone(pool: Pool) -> None:
    store = PostgresEventStore(pool, registry)
    appender = GroupAppender(pool, store)
    domains = [f"c{i}-{uuid.uuid4().hex[:6]}.de" for i in range(4)]
    tasks = [asyncio.create_task(appender.append(_new(d))) for d in domains]
    await asyncio.sleep(0)
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert all(r[0].stream_version == 1 for i, r in enumerate(done) if i != 1)  # type: ignore[index]


async def test_one_stream_twice_in_a_group_is_written_in_order(pool: Pool) -> None:
    store = PostgresEventStore(pool, registry)
    appender = GroupAppender(pool, store)
    d = f"t-{uuid.uuid4().hex[:6]}.de"
    first = await appender.append(_new(d))
    # Two appends at the same version of one stream, waiting together: one wins, one conflicts.
    outcomes = await asyncio.gather(
        appender.append(StreamAppend(f"domain-{d}", 1, _vhost(d), _context(), first[0].chain_hash)),
        appender.append(StreamAppend(f"domain-{d}", 1, _vhost(d), _context(), first[0].chain_hash)),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["ConcurrencyConflict", "list"]
    assert (await store.load(f"domain-{d}")).version == 2
