"""Tamper evidence on a real PostgreSQL store: 1,000 random alterations, each detected and located.

The store holds a generated contacts history (a few hundred events) with two checkpoints published
to Kafka (one half-way, one at the end) by the real `CheckpointPublisher`. Each trial runs in one
transaction: it disables the immutability triggers the way an attacker with superuser rights
would (`SET LOCAL session_replication_role = replica`), alters the store, runs the verifier inside
the same transaction, and rolls back, so every trial starts from the pristine store.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.contacts.domain.events import registry
from shared.audit.checkpoints import CheckpointLog, CheckpointPublisher, read_checkpoint_log
from shared.audit.verify import VerificationReport, verify_store
from shared.db import Connection, Pool
from shared.eventstore.chain import canonical_of_row, link
from shared.infra.kafka import TopicSpec, ensure_topics
from shared.kafka import idempotent_producer
from tests.conftest import fresh_pool
from tests.integration.audit.conftest import write
from tests.support.waiting import eventually
from tests.unit.audit.history import generate

pytestmark = pytest.mark.integration

TRIALS = 1000


@dataclass
class Store:
    pool: Pool
    log: CheckpointLog
    streams: dict[str, list[dict[str, Any]]]  # stream -> rows (position, version, txid) in version order


@pytest.fixture(scope="module")
async def store(pg_server: str, kafka: str) -> AsyncIterator[Store]:
    history = generate(5, [str(40_000_000 + i) for i in range(12)], 700)
    appends = [a for a in history.appends if a.service == "contacts"]
    pool = await fresh_pool(pg_server, max_size=8)
    topic = f"audit-{uuid.uuid4().hex[:8]}.checkpoints"
    await ensure_topics(kafka, [TopicSpec(topic, partitions=1, configs={"retention.ms": "-1"})])
    producer = idempotent_producer(kafka, "audit-tampering-test")
    await producer.start()
    try:
        publisher = CheckpointPublisher(service="contacts", pool=pool, producer=producer, topic=topic)
        half = len(appends) // 2
        await write(pool, registry, appends[:half])
        first = await publisher.publish()
        await write_rest(pool, appends[half:])
        second = await publisher.publish()
        assert first is not None
        assert second is not None
        assert await publisher.publish() is None  # nothing changed since
        assert second.sequence == 2
        assert second.event_count == await pool.fetchval("SELECT count(*) FROM events")
    finally:
        await producer.stop()
    log = await read_checkpoint_log(kafka, "contacts", topic)
    assert log.problems == []
    assert len(log.checkpoints) == 2
    streams: dict[str, list[dict[str, Any]]] = {}
    for row in await pool.fetch(
        "SELECT position, stream_id, stream_version, transaction_id::text AS txid FROM events"
        " ORDER BY stream_id, stream_version"
    ):
        streams.setdefault(row["stream_id"], []).append(dict(row))
    yield Store(pool, log, streams)
    await pool.close()


async def test_the_publishers_rounds_are_counted_for_the_operators_alert(
    store: Store, kafka: str, pg_server: str
) -> None:
    """`checkpoint_rounds_total`: a round on the store publishes, the next finds nothing changed, and
    a round on a database whose event store is gone fails (what `AccountsCheckpointsFailing` watches)."""
    topic = f"audit-{uuid.uuid4().hex[:8]}.checkpoints"
    await ensure_topics(kafka, [TopicSpec(topic, partitions=1, configs={"retention.ms": "-1"})])
    producer = idempotent_producer(kafka, "audit-rounds-test")
    await producer.start()
    storeless = await fresh_pool(pg_server, max_size=2)
    await storeless.execute("DROP TABLE events CASCADE")
    try:
        for pool, service, outcomes in (
            (store.pool, "rounds-ok", ("published", "unchanged")),
            (storeless, "rounds-broken", ("failed",)),
        ):
            publisher = CheckpointPublisher(service=service, pool=pool, producer=producer, topic=topic, interval_s=0.02)
            stop = asyncio.Event()
            running = asyncio.create_task(publisher.run(stop))
            await eventually(partial(_counted, service, outcomes), f"{service}: {outcomes} counted", timeout=20)
            stop.set()
            await running
            others = {"published", "unchanged", "failed"} - set(outcomes)
            assert [_rounds(service, outcome) for outcome in sorted(others)] == [0] * len(others)
        assert _rounds("rounds-ok", "published") == 1  # the store did not change after the first
    finally:
        await producer.stop()
        await storeless.close()


async def _counted(service: str, outcomes: tuple[str, ...]) -> bool:
    return all(_rounds(service, outcome) > 0 for outcome in outcomes)


def _rounds(service: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("checkpoint_rounds_total", {"service": service, "outcome": outcome}) or 0.0


async def write_rest(pool: Pool, appends: list[Any]) -> None:
    # Continue streams begun in the first half: write() expects versions from 0, so start from the store's.
    from shared.eventstore.postgres import PostgresEventStore
    from shared.unit_of_work import UnitOfWorkFactory

    uow = UnitOfWorkFactory(pool, PostgresEventStore(pool, registry))
    for a in appends:
        async with uow() as tx:
            version = await tx.connection.fetchval(
                "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", a.stream_id
            )
            await tx.append(a.stream_id, version, a.events, a.context)
            await tx.commit()


# -- the alterations ------------------------------------------------------------------------------
# Each returns what must be reported: (stream, acceptable versions, acceptable finding kinds).

Expected = tuple[str, set[int], set[str]]
CHANGED = {"hash_mismatch"}


def _mutate_json(value: Any, rng: random.Random) -> Any:
    """The same document with one character (or number) changed somewhere."""
    if isinstance(value, dict) and value:
        key = rng.choice(sorted(value))
        return {**value, key: _mutate_json(value[key], rng)}
    if isinstance(value, list) and value:
        i = rng.randrange(len(value))
        return [*value[:i], _mutate_json(value[i], rng), *value[i + 1 :]]
    if isinstance(value, str) and value:
        i = rng.randrange(len(value))
        return value[:i] + ("Z" if value[i] != "Z" else "Y") + value[i + 1 :]
    if isinstance(value, bool) or value is None:
        return "altered"
    if isinstance(value, int):
        return value + 1
    return {"altered": True}


async def change_a_byte(conn: Connection, rng: random.Random, store: Store) -> Expected:
    stream = rng.choice(sorted(store.streams))
    row = rng.choice(store.streams[stream])
    pos, version = row["position"], row["stream_version"]
    column = rng.choice(
        ["data", "metadata", "actor", "event_type", "customer_number", "occurred_at", "correlation_id",
         "causation_id", "event_id", "schema_version", "chain_hash"]
    )  # fmt: skip
    if column in ("data", "metadata"):
        current = await conn.fetchval(f"SELECT {column} FROM events WHERE position = $1", pos)  # noqa: S608
        await conn.execute(f"UPDATE events SET {column} = $1 WHERE position = $2", _mutate_json(current, rng), pos)  # noqa: S608
    elif column in ("actor", "event_type", "customer_number"):
        await conn.execute(
            f"UPDATE events SET {column} = overlay({column} placing 'Q' from 1 for 1) WHERE position = $1",  # noqa: S608
            pos,
        )
    elif column == "occurred_at":
        await conn.execute(
            "UPDATE events SET occurred_at = occurred_at + interval '1 microsecond' WHERE position = $1", pos
        )
    elif column in ("correlation_id", "causation_id", "event_id"):
        await conn.execute(f"UPDATE events SET {column} = $1 WHERE position = $2", uuid.uuid4(), pos)  # noqa: S608
    elif column == "schema_version":
        await conn.execute("UPDATE events SET schema_version = schema_version + 1 WHERE position = $1", pos)
    else:
        byte = rng.randrange(32)
        await conn.execute(
            "UPDATE events SET chain_hash = set_byte(chain_hash, $2, get_byte(chain_hash, $2) # 1) WHERE position = $1",
            pos,
            byte,
        )
    return stream, {version}, CHANGED


async def delete_an_event(conn: Connection, rng: random.Random, store: Store) -> Expected:
    stream = rng.choice(sorted(store.streams))
    rows = store.streams[stream]
    row = rng.choice(rows)
    await conn.execute("DELETE FROM events WHERE position = $1", row["position"])
    if len(rows) == 1:
        return stream, {1}, {"stream_missing"}
    if row is rows[-1]:
        return stream, {row["stream_version"]}, {"truncated"}
    return stream, {row["stream_version"]}, {"missing_version"}


def _stream_with(store: Store, rng: random.Random, at_least: int) -> str:
    return rng.choice(sorted(s for s, rows in store.streams.items() if len(rows) >= at_least))


async def swap_two_events(conn: Connection, rng: random.Random, store: Store) -> Expected:
    stream = _stream_with(store, rng, 2)
    a, b = sorted(rng.sample([r["stream_version"] for r in store.streams[stream]], 2))
    await conn.execute(
        "UPDATE events SET stream_version = CASE stream_version WHEN $2 THEN $3 ELSE $2 END + 1000000"
        " WHERE stream_id = $1 AND stream_version IN ($2, $3)",
        stream,
        a,
        b,
    )
    await conn.execute(
        "UPDATE events SET stream_version = stream_version - 1000000 WHERE stream_id = $1 AND stream_version > 1000000",
        stream,
    )
    return stream, {a}, CHANGED


async def _chained_copy(
    conn: Connection, stream: str, source_version: int, new_version: int, previous: bytes
) -> dict[str, Any]:
    """A copy of an event as a new event at `new_version`, with a correctly chained hash."""
    source = await conn.fetchrow(
        "SELECT * FROM events WHERE stream_id = $1 AND stream_version = $2", stream, source_version
    )
    assert source is not None
    row = dict(source)
    row.update(event_id=uuid.uuid4(), stream_version=new_version, data={**row["data"], "inserted": True})
    row["chain_hash"] = link(previous, canonical_of_row(row))
    return row


_INSERT = """
INSERT INTO events (transaction_id, event_id, stream_id, stream_version, event_type, schema_version, customer_number,
                    occurred_at, actor, correlation_id, causation_id, metadata, data, chain_hash)
VALUES ($1::text::xid8, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
"""


async def _insert(conn: Connection, row: dict[str, Any], txid: str | None) -> None:
    await conn.execute(
        _INSERT,
        txid or str(await conn.fetchval("SELECT pg_current_xact_id()::text")),
        *(row[c] for c in ("event_id", "stream_id", "stream_version", "event_type", "schema_version",
                           "customer_number", "occurred_at", "actor", "correlation_id", "causation_id",
                           "metadata", "data", "chain_hash")),
    )  # fmt: skip


async def insert_an_event(conn: Connection, rng: random.Random, store: Store) -> Expected:
    stream = _stream_with(store, rng, 2)
    rows = store.streams[stream]
    k = rng.randrange(1, len(rows))  # insert after version k (k < last)
    previous = await conn.fetchval(
        "SELECT chain_hash FROM events WHERE stream_id = $1 AND stream_version = $2", stream, k
    )
    row = await _chained_copy(conn, stream, k, k + 1, previous)
    await conn.execute(
        "UPDATE events SET stream_version = stream_version + 1000000 WHERE stream_id = $1 AND stream_version > $2",
        stream,
        k,
    )
    await conn.execute(
        "UPDATE events SET stream_version = stream_version - 999999 WHERE stream_id = $1 AND stream_version > 1000000",
        stream,
    )
    await _insert(conn, row, rows[k]["txid"])
    return stream, {k + 1, k + 2}, CHANGED


async def append_backdated(conn: Connection, rng: random.Random, store: Store) -> Expected:
    """A correctly chained event at a stream's end, claiming a transaction the checkpoint saw."""
    stream = rng.choice(sorted(store.streams))
    rows = store.streams[stream]
    last = rows[-1]["stream_version"]
    previous = await conn.fetchval(
        "SELECT chain_hash FROM events WHERE stream_id = $1 AND stream_version = $2", stream, last
    )
    row = await _chained_copy(conn, stream, last, last + 1, previous)
    await _insert(conn, row, rng.choice(rows)["txid"])
    return stream, {last + 1}, {"not_covered"}


async def truncate_a_stream(conn: Connection, rng: random.Random, store: Store) -> Expected:
    stream = rng.choice(sorted(store.streams))
    rows = store.streams[stream]
    keep = rng.randrange(0, len(rows))
    await conn.execute("DELETE FROM events WHERE stream_id = $1 AND stream_version > $2", stream, keep)
    if keep == 0:
        return stream, {1}, {"stream_missing"}
    return stream, {keep + 1}, {"truncated"}


async def forge_a_chain(conn: Connection, rng: random.Random, store: Store) -> Expected:
    """Change an event and recompute every hash after it: the chain is consistent, the checkpoint is not."""
    stream = rng.choice(sorted(store.streams))
    rows = store.streams[stream]
    version = rng.choice(rows)["stream_version"]
    current = await conn.fetchval(
        "SELECT data FROM events WHERE stream_id = $1 AND stream_version = $2", stream, version
    )
    await conn.execute(
        "UPDATE events SET data = $3 WHERE stream_id = $1 AND stream_version = $2",
        stream,
        version,
        _mutate_json(current, rng),
    )
    previous = await conn.fetchval(
        "SELECT chain_hash FROM events WHERE stream_id = $1 AND stream_version = $2", stream, version - 1
    ) or bytes(32)
    for row in await conn.fetch(
        "SELECT * FROM events WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version", stream, version
    ):
        previous = link(previous, canonical_of_row(row))
        await conn.execute("UPDATE events SET chain_hash = $2 WHERE position = $1", row["position"], previous)
    last = rows[-1]["stream_version"]
    return stream, set(range(version, last + 1)), {"checkpoint_mismatch"}


TAMPERINGS: list[Callable[[Connection, random.Random, Store], Awaitable[Expected]]] = [
    change_a_byte,
    delete_an_event,
    swap_two_events,
    insert_an_event,
    append_backdated,
    truncate_a_stream,
    forge_a_chain,
]


def located(report: VerificationReport, expected: Expected) -> bool:
    stream, versions, kinds = expected
    return any(f.stream_id == stream and f.version in versions and f.kind in kinds for f in report.findings)


# -- the tests ------------------------------------------------------------------------------------


async def test_an_untouched_store_verifies_without_a_false_alarm(store: Store) -> None:
    async with store.pool.acquire() as conn:
        report = await verify_store(conn, "contacts", store.log)
        assert report.ok, report.summary()
        total = sum(len(rows) for rows in store.streams.values())
        assert (report.events, report.covered_events, report.after_checkpoint_events) == (total, total, 0)
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            assert (await verify_store(conn, "contacts", store.log)).ok
        without = await verify_store(conn, "contacts", None)
        assert without.ok
        assert without.after_checkpoint_events == total
        assert "only chain-checked" in without.summary()


async def test_events_after_the_last_checkpoint_are_only_chain_checked(store: Store) -> None:
    stream = sorted(store.streams)[0]
    last = store.streams[stream][-1]["stream_version"]
    async with store.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("SET LOCAL session_replication_role = replica")
            previous = await conn.fetchval(
                "SELECT chain_hash FROM events WHERE stream_id = $1 AND stream_version = $2", stream, last
            )
            await _insert(conn, await _chained_copy(conn, stream, last, last + 1, previous), None)
            report = await verify_store(conn, "contacts", store.log)
            assert report.ok, report.summary()
            assert (report.after_checkpoint_events, report.after_checkpoint_streams) == (1, 1)
            assert "only chain-checked" in report.summary()
            await conn.execute(
                "UPDATE events SET chain_hash = $1 WHERE stream_id = $2 AND stream_version = $3",
                bytes(32),
                stream,
                last + 1,
            )
            broken = await verify_store(conn, "contacts", store.log)
            assert [(f.kind, f.stream_id, f.version) for f in broken.findings] == [("hash_mismatch", stream, last + 1)]
        finally:
            await tx.rollback()


async def test_random_tamperings_are_all_detected_and_located(store: Store) -> None:
    rng = random.Random(20261127)
    missed: list[str] = []
    kinds: dict[str, int] = {}
    async with store.pool.acquire() as conn:
        for trial in range(TRIALS):
            tamper = rng.choice(TAMPERINGS)
            kinds[tamper.__name__] = kinds.get(tamper.__name__, 0) + 1
            tx = conn.transaction()
            await tx.start()
            try:
                await conn.execute("SET LOCAL session_replication_role = replica")
                expected = await tamper(conn, rng, store)
                # Small pages too: a stream continues across page boundaries.
                report = await verify_store(conn, "contacts", store.log, page=rng.choice([16, 97, 5000]))
                if not located(report, expected):
                    missed.append(f"trial {trial} {tamper.__name__} {expected}: {report.findings[:3]}")
            finally:
                await tx.rollback()
        assert (await verify_store(conn, "contacts", store.log)).ok  # every trial was rolled back
    assert missed == [], "\n".join(missed[:20])
    assert len(kinds) == len(TAMPERINGS)
    assert min(kinds.values()) > TRIALS // 20


async def test_a_stream_out_of_log_order_is_walked_exactly_without_a_false_alarm(store: Store) -> None:
    """The fast pass reads in log order; a stream whose versions are not in that order (an
    imported history, say) only becomes a suspect, and the exact walk clears it."""
    stream = _stream_with(store, random.Random(5), 2)
    async with store.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute("SET LOCAL session_replication_role = replica")
            first = dict(
                await conn.fetchrow("SELECT * FROM events WHERE stream_id = $1 AND stream_version = 1", stream) or {}
            )
            await conn.execute("DELETE FROM events WHERE position = $1", first["position"])
            await _insert(conn, first, store.streams[stream][0]["txid"])  # the same event, now last in the log
            report = await verify_store(conn, "contacts", store.log, page=97)
            assert report.ok, report.summary()
            total = sum(len(rows) for rows in store.streams.values())
            assert (report.events, report.streams, report.covered_events) == (total, len(store.streams), total)
        finally:
            await tx.rollback()
