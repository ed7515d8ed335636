"""Customers' authorizations kept in the API process answer exactly as the tables do.

`CustomerAuthorizations` (every row of one customer, filtered in memory) against `view_on`
(the filters in SQL), on generated histories of grants, revocations, departures, identifier
changes and instructions, asked about many instants and requesters.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator

import pytest

from shared.authorization import AuthorizationProjection, decide
from shared.authorization.queries import load_customer, view_on
from shared.db import Pool
from shared.scopes import Scope
from tests.unit.authorization.histories import build, random_ops, requesters

pytestmark = pytest.mark.integration

_customers = itertools.count(71_000_000)


@pytest.fixture(scope="module")
async def tables(pg_server: str) -> AsyncIterator[Pool]:
    from tests.conftest import fresh_pool

    pool = await fresh_pool(pg_server, max_size=2)
    await pool.execute(AuthorizationProjection.ddl)
    yield pool
    await pool.close()


@pytest.mark.parametrize("seed", [7, 2026])
async def test_kept_rows_answer_like_the_tables(tables: Pool, seed: int) -> None:
    customers = [str(next(_customers)), str(next(_customers))]
    history = build(random_ops(random.Random(seed), 1500), customers)
    projection = AuthorizationProjection()
    async with tables.acquire() as conn:
        async with conn.transaction():
            for event in history.events:
                await projection.apply(conn, event)
        kept = {n: await load_customer(conn, n) for n in customers}
        instants = history.instants()
        who = random.Random(seed).sample(requesters(history), 20)
        for at in instants[:: max(1, len(instants) // 12)]:
            for n in customers:
                for requester in who:
                    in_memory = kept[n].view(requester, at)
                    in_sql = await view_on(conn, n, requester, at)
                    assert (in_memory.contact, in_memory.instruction) == (in_sql.contact, in_sql.instruction)
                    assert sorted(in_memory.grants, key=lambda g: g.grant_id) == sorted(
                        in_sql.grants, key=lambda g: g.grant_id
                    )
                    for action in (Scope.CHANGE_DNS, Scope.ALL):
                        assert decide(in_memory, action, at) == decide(in_sql, action, at)
