"""Bulk rebuilds: the in-memory fold of `AuthorizationProjection` leaves the rows its SQL leaves.

Histories come from the real contacts domain (hypothesis draws the seed), with changes, removals,
departures, revocations, identifier changes (some at the same instant, so that an identifier
closed and opened again at one instant shows), instructions, and duplicates of every kind (the
same event recorded again under the next version: a contact added twice, a grant given twice,
a revocation or removal repeated), a change of a contact never added, and events of types the
projection ignores. The live tables get one `apply` per event; the rebuild from the store must
equal them both ways, in bulk and per event.
"""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.contacts.domain.events import registry
from shared.authorization import AuthorizationMemory, AuthorizationProjection, contract
from shared.authorization.loading import load_authorizations
from shared.db import Pool
from shared.envelope import RecordedEvent
from shared.eventstore.postgres import PostgresEventStore
from shared.rebuild import events_from_store, rebuild
from tests.unit.authorization.histories import build, random_ops, requesters, seeded

pytestmark = pytest.mark.integration

_customers = itertools.count(71_000_000)

_INSERT = """
INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, customer_number, occurred_at,
                    actor, correlation_id, causation_id, metadata, data, chain_hash)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[], $7::timestamptz[],
                     $8::text[], $9::uuid[], $10::uuid[], $11::jsonb[], $12::jsonb[], $13::bytea[])
"""


@pytest.fixture(scope="module")
async def store_pool(pg_server: str) -> Pool:
    from tests.conftest import fresh_pool

    pool = await fresh_pool(pg_server, max_size=4)
    await pool.execute(AuthorizationProjection.ddl)
    return pool


def _again(event: RecordedEvent) -> RecordedEvent:
    """The same fact recorded again a second later, with other free text (the first one counts)."""
    data = dict(event.data)
    for key in ("note", "reason", "document_reference", "name"):
        if key in data:
            data[key] = f"{data[key]} (again)"
    return replace(event, occurred_at=event.occurred_at + timedelta(seconds=1), data=data)


def _with_duplicates(events: list[RecordedEvent], rng: random.Random) -> list[RecordedEvent]:
    """Every stream renumbered, with copies (new ids, the next versions) and odd events mixed in."""
    out: list[RecordedEvent] = []
    versions: dict[str, int] = {}

    def add(event: RecordedEvent) -> None:
        versions[event.stream_id] = versions.get(event.stream_id, 0) + 1
        out.append(replace(event, event_id=uuid.uuid4(), stream_version=versions[event.stream_id]))

    for event in events:
        add(event)
        if rng.random() < 0.15:
            add(_again(event))
        if event.event_type in (contract.CONTACT_ADDED, contract.CONTACT_DETAILS_CHANGED) and rng.random() < 0.2:
            # Another e-mail and back, at the same instant: the first e-mail's row, closed at this
            # instant, is opened again.
            other = {**event.data, "email": f"other.{event.data['email']}"}
            add(replace(event, event_type=contract.CONTACT_DETAILS_CHANGED, data=other))
            add(replace(event, event_type=contract.CONTACT_DETAILS_CHANGED))
        if rng.random() < 0.05:
            add(replace(event, event_type="AuthorizationChecked", data={"outcome": "allowed"}))
        if rng.random() < 0.01:
            stray: dict[str, Any] = {"contact_id": str(uuid.uuid4()), "name": "Nobody", "email": "n@example.org"}
            add(replace(event, event_type=contract.CONTACT_DETAILS_CHANGED, data=stray))
    return out


async def _record(pool: Pool, events: list[RecordedEvent]) -> None:
    rows = [
        (
            e.event_id, e.stream_id, e.stream_version, e.event_type, e.schema_version, e.customer_number,
            e.occurred_at, str(e.actor), e.correlation_id, e.causation_id, dict(e.metadata), dict(e.data), bytes(32),
        )
        for e in events
    ]  # fmt: skip
    await pool.execute(_INSERT, *(list(column) for column in zip(*rows, strict=True)))


@seeded
@given(seed=st.integers(0, 2**32))
async def test_bulk_rebuild_equals_the_per_event_projection(store_pool: Pool, seed: int) -> None:
    rng = random.Random(seed)
    customers = [str(next(_customers)), str(next(_customers))]
    history = build(random_ops(rng, 1200), customers)
    events = _with_duplicates(history.events, rng)
    kinds = {e.event_type for e in events}
    assert contract.AUTHORIZATION_EVENT_TYPES - kinds <= {contract.OFFICIAL_INSTRUCTION_WITHDRAWN}, kinds
    await _record(store_pool, events)

    projection = AuthorizationProjection()
    async with store_pool.acquire() as conn, conn.transaction():
        for event in await PostgresEventStore(store_pool, registry).read_all():
            if event.customer_number in customers:
                await projection.apply(conn, event)  # the live model, one statement per event

    store = PostgresEventStore(store_pool, registry)
    bulk = await rebuild(store_pool, projection, events_from_store(store, event_types=projection.event_types))
    assert bulk.identical, bulk.diffs
    per_event = await rebuild(store_pool, projection, events_from_store(store), bulk=False)
    assert per_event.identical, per_event.diffs
    assert per_event.events > bulk.events  # the ignored types were not even read for the bulk rebuild
    rows = await store_pool.fetchval(
        "SELECT count(*) FROM authz_identifiers WHERE customer_number = ANY($1) AND valid_until IS NOT NULL",
        customers,
    )
    assert rows > 0  # identifiers were closed, not only opened


async def test_a_scan_reads_every_event_whole_in_stream_order(pool: Pool) -> None:
    n = str(next(_customers))
    history = build(random_ops(random.Random(7), 300), [n])
    await _record(pool, history.events)
    store = PostgresEventStore(pool, registry)
    everything = [e for e in await store.read_all() if e.customer_number == n]

    scanned: list[RecordedEvent] = []
    async for page in store.scan(page=50):
        scanned += [e for e in page if e.customer_number == n]
    assert scanned == everything  # one stream: version order, and the events whole

    only = frozenset({contract.CONTACT_AUTHORIZED, contract.CONTACT_AUTHORIZATION_REVOKED})
    granted = [e async for e in events_from_store(store, 50, event_types=only) if e.customer_number == n]
    assert granted == [e for e in everything if e.event_type in only]


def _odd(events: list[RecordedEvent]) -> list[RecordedEvent]:
    """Events as older or other writers may have left them: fallbacks and spellings the readers
    must treat alike (next versions of the same streams)."""
    out = list(events)
    versions = {e.stream_id: e.stream_version for e in events}

    def add(event: RecordedEvent, data: dict[str, Any]) -> None:
        versions[event.stream_id] += 1
        out.append(replace(event, event_id=uuid.uuid4(), stream_version=versions[event.stream_id], data=data))

    for event in events:
        data = dict(event.data)
        if event.event_type == contract.CONTACT_AUTHORIZATION_REVOKED:
            add(event, {k: v for k, v in data.items() if k != "revoked_by"})  # the actor decided
            add(event, {**data, "revoked_by": ""})
        elif event.event_type == contract.CONTACT_REMOVED:
            add(event, {k: v for k, v in data.items() if k != "removed_by"})
        elif event.event_type == contract.OFFICIAL_INSTRUCTION_ISSUED:
            add(event, {k: v for k, v in data.items() if k != "issued_by"})
        elif event.event_type == contract.CONTACT_AUTHORIZED:
            add(event, {**data, "valid_until": "2027-03-01T12:30:00.250000+02:00", "note": None})
            add(event, {k: v for k, v in data.items() if k != "note"})
        elif event.event_type == contract.CONTACT_ADDED and data.get("phone"):
            add(event, {k: v for k, v in data.items() if k != "phone_e164"})  # before phone_e164 existed
    return out


@seeded
@given(seed=st.integers(0, 2**32))
async def test_postgresql_reads_every_fact_as_python_does(store_pool: Pool, seed: int) -> None:
    rng = random.Random(seed)
    n = str(next(_customers))
    events = _odd(_with_duplicates(build(random_ops(rng, 600), [n]).events, rng))
    await _record(store_pool, events)
    stored = [e for e in await PostgresEventStore(store_pool, registry).read_all() if e.customer_number == n]

    by_sql: dict[tuple[str, int], contract.Fact] = {}
    async for page in PostgresEventStore(store_pool, registry).scan_rows(
        f"position, customer_number, {contract.FACT_COLUMNS}", event_types=contract.AUTHORIZATION_EVENT_TYPES, page=97
    ):
        for row in page.rows:
            if row[1] == n:
                f = contract.Fact._make(row[2:])
                by_sql[(f.stream_id, f.stream_version)] = f
    wanted = [e for e in stored if e.event_type in contract.AUTHORIZATION_EVENT_TYPES]
    assert len(by_sql) == len(wanted) > 500
    for event in wanted:
        assert by_sql[(event.stream_id, event.stream_version)] == contract.fact(event), event
    fallbacks = [f for f in by_sql.values() if f.decided_by == f"customer:{n}"]
    assert fallbacks  # the actor stood in where the data named nobody


async def test_the_bulk_load_equals_the_fold_of_the_events_and_follows_on_after_it(pool: Pool) -> None:
    rng = random.Random(11)
    n = str(next(_customers))
    history = build(random_ops(rng, 900), [n])
    events = _odd(_with_duplicates(history.events, rng))
    first, later = events[: len(events) * 2 // 3], events[len(events) * 2 // 3 :]
    await _record(pool, first)
    store = PostgresEventStore(pool, registry)

    loaded = AuthorizationMemory()
    cursor, count = await load_authorizations(store, loaded)
    assert count == sum(1 for e in first if e.event_type in contract.AUTHORIZATION_EVENT_TYPES)
    folded = AuthorizationMemory().apply_all(await store.read_all())
    who = requesters(history)
    for at in history.instants()[::7]:
        assert loaded.authorizations_at(n, at) == folded.authorizations_at(n, at), at
        for requester in who:
            assert loaded.view(n, requester, at) == folded.view(n, requester, at), (at, requester)

    # A follower reading on from the load's cursor gets exactly what was committed after it.
    await _record(pool, later)
    batch = await store.read_batch(cursor, 100_000)
    assert [(e.stream_id, e.stream_version) for e in batch.events] == [(e.stream_id, e.stream_version) for e in later]
