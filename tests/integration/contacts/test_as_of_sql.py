""" "As of T" from the PostgreSQL read model equals a replay of the events up to T.

Histories of thousands of grants, revocations, departures and instruction changes are generated
through the real domain (hypothesis draws the seed), applied to `AuthorizationProjection` in
PostgreSQL, and asked about many instants; the reference is an in-memory fold of only the events
recorded up to each instant.
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.authorization import AuthorizationMemory, AuthorizationProjection, SqlAuthorizationReader, decide
from shared.db import Pool
from shared.scopes import Scope
from tests.unit.authorization.histories import build, phones_heard, random_ops, requesters, seeded

pytestmark = pytest.mark.integration

_customers = itertools.count(70_000_000)


@pytest.fixture(scope="module")
async def projection_pool(pg_server: str) -> Pool:
    from tests.conftest import fresh_pool

    pool = await fresh_pool(pg_server, max_size=4)
    await pool.execute(AuthorizationProjection.ddl)
    return pool


@seeded
@given(seed=st.integers(0, 2**32))
async def test_sql_as_of_equals_replay_of_events_up_to_t(projection_pool: Pool, seed: int) -> None:
    customers = [str(next(_customers)), str(next(_customers))]
    history = build(random_ops(random.Random(seed), 3500), customers)
    assert sum(1 for e in history.events if e.event_type == "ContactAuthorized") > 1000
    projection = AuthorizationProjection()
    async with projection_pool.acquire() as conn, conn.transaction():
        for event in history.events:
            await projection.apply(conn, event)

    reader = SqlAuthorizationReader(projection_pool)
    instants = history.instants()
    sample: list[datetime] = instants[:: max(1, len(instants) // 15)]
    who = [*random.Random(seed).sample(requesters(history), 25), *phones_heard()]  # (callers abroad too)
    for at in sample:
        replay = AuthorizationMemory().apply_all(e for e in history.events if e.occurred_at <= at)
        for n in customers:
            assert await reader.authorizations_at(n, at) == replay.authorizations_at(n, at), (n, at)
            for requester in who:
                view = await reader.view(n, requester, at)
                for action in (Scope.CHANGE_DNS, Scope.ALL):
                    assert decide(view, action, at) == decide(replay.view(n, requester, at), action, at)
