"""Every stored event's chain hash can be recomputed from what PostgreSQL gives back."""

from __future__ import annotations

import pytest

from shared.db import Pool
from shared.eventstore.chain import GENESIS, canonical_of_row, link
from shared.eventstore.postgres import PostgresEventStore
from tests.support.context import context
from tests.support.events import ThingHappened, registry

pytestmark = pytest.mark.integration


async def test_chain_recomputes_from_stored_rows_and_breaks_on_any_change(pool: Pool) -> None:
    store = PostgresEventStore(pool, registry)
    await store.append("chain-1", 0, [ThingHappened(1, "Grüße ✓"), ThingHappened(2)], context(request_id="r"))
    await store.append("chain-1", 2, [ThingHappened(3)], context())
    rows = await pool.fetch("SELECT * FROM events WHERE stream_id = 'chain-1' ORDER BY stream_version")
    previous = GENESIS
    for row in rows:
        previous = link(previous, canonical_of_row(row))
        assert previous == row["chain_hash"]

    changed = dict(rows[1])
    changed["data"] = {**changed["data"], "n": 20}
    assert link(rows[0]["chain_hash"], canonical_of_row(changed)) != rows[1]["chain_hash"]


async def test_events_table_refuses_updates_and_deletes(pool: Pool) -> None:
    import asyncpg

    store = PostgresEventStore(pool, registry)
    await store.append("chain-2", 0, [ThingHappened(1)], context())
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("UPDATE events SET data = '{}' WHERE stream_id = 'chain-2'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("DELETE FROM events WHERE stream_id = 'chain-2'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("TRUNCATE events")


async def test_a_wrong_previous_hash_is_refused_as_a_conflict(pool: Pool) -> None:
    from shared.errors import ConcurrencyConflict

    store = PostgresEventStore(pool, registry)
    [first] = await store.append("chain-3", 0, [ThingHappened(1)], context())
    with pytest.raises(ConcurrencyConflict):
        await store.append("chain-3", 1, [ThingHappened(2)], context(), previous_hash=bytes(32))
    [second] = await store.append("chain-3", 1, [ThingHappened(2)], context(), previous_hash=first.chain_hash)
    [third] = await store.append("chain-3", 2, [ThingHappened(3)], context())
    assert (await store.load("chain-3")).events[-1].chain_hash == third.chain_hash != second.chain_hash
