"""Compliance benchmarks: replay from Kafka, "as of" answers, hash-chain verification, rebuilds.

replay      >= 1,000,000 events on four scratch topics (the kernel's CloudEvents encoding, produced
            in whole record batches so that production is not what takes the time), replayed into
            the audit model: records/s for reading + decoding + indexing, and with the full fold
            (every customer's authorizations folded, every action's authority read)
as of       the first "who could do what as of T" after the replay (folds that customer), and the
            median over random customers and instants
verify      a contacts store of ~500,000 events (written in bulk, chain hashes computed as the
            store does): the first checkpoint, then the verifier against it (events/s)
rebuild     the same store into the in-memory authorization model (the bulk load a contacts API
            process does at start; folding whole recorded events for comparison), and into PostgreSQL tables with
            `shared.rebuild` (AuthorizationProjection, bulk fold + COPY), reading only the
            authorization event types: events/s over the store's total and over the events read;
            and the per-event path over the first 50,000 events, for comparison
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from bench.stats import percentile
from bench.support import fresh_database
from shared import cloudevents, db
from shared.audit import questions
from shared.audit.checkpoints import CheckpointPublisher, read_checkpoint_log
from shared.audit.model import AuditModel, bulk_load
from shared.audit.replay import TopicReader
from shared.audit.verify import verify_store
from shared.authorization.contract import AUTHORIZATION_EVENT_TYPES
from shared.authorization.loading import load_authorizations
from shared.authorization.memory import AuthorizationMemory
from shared.authorization.projection import AuthorizationProjection
from shared.envelope import Actor, ActorKind, RecordedEvent
from shared.eventstore.chain import GENESIS, canonical, link
from shared.eventstore.postgres import PostgresEventStore
from shared.infra.kafka import TopicSpec, ensure_topics
from shared.kafka import SERVICES, idempotent_producer
from shared.rebuild import events_from_store, rebuild

REPLAY_EVENTS = 1_000_000
STORE_EVENTS = 500_000
PG_REBUILD_EVENTS = 50_000
PARTITIONS = 3
BASE = datetime(2026, 1, 1, tzinfo=UTC)
SCOPES = ["contracts:view", "credentials:request", "dns:change", "mailboxes:manage", "billing:manage"]


def _uuid(*parts: int) -> uuid.UUID:
    value = 0
    for p in parts:
        value = (value * 1_000_003 + p) % (1 << 120)
    return uuid.UUID(int=value | (4 << 76), version=4)


class _Story:
    """One customer's events in every service, coherent enough for the fold (ids refer to each other)."""

    def __init__(self, i: int, rng: random.Random) -> None:
        self.i = i
        self.n = str(10_000_000 + i)
        self.rng = rng
        self.t = BASE + timedelta(seconds=i)
        self.versions: dict[str, int] = {}
        self.out: list[tuple[str, RecordedEvent]] = []
        self.k = 0
        self.grants: list[tuple[uuid.UUID, uuid.UUID]] = []

    def emit(self, service: str, stream: str, event_type: str, data: dict[str, Any], actor: Actor, **meta: Any) -> None:
        self.k += 1
        self.t += timedelta(minutes=self.rng.randint(1, 600))
        version = self.versions[stream] = self.versions.get(stream, 0) + 1
        self.out.append(
            (
                service,
                RecordedEvent(
                    event_id=_uuid(self.i, self.k, 1),
                    event_type=event_type,
                    schema_version=1,
                    stream_id=stream,
                    stream_version=version,
                    customer_number=self.n,
                    occurred_at=self.t,
                    actor=actor,
                    correlation_id=_uuid(self.i, self.k, 2),
                    causation_id=None,
                    data=data,
                    metadata={"request_id": f"{self.i:08x}{self.k:08x}", **meta},
                ),
            )
        )

    def contacts(self, checks: int) -> None:
        n, owner = self.n, Actor(ActorKind.CUSTOMER, self.n)
        stream = f"customer-contacts-{n}"
        people = [_uuid(self.i, c, 3) for c in range(3)]
        for c, cid in enumerate(people):
            self.emit(
                "contacts",
                stream,
                "ContactAdded",
                {
                    "contact_id": str(cid),
                    "name": f"Person {c}",
                    "email": f"p{c}@{n}.example",
                    "phone": None,
                    "organisation": None,
                    "function": None,
                    "phone_e164": None,
                    "organisation_kind": "customer",
                },
                owner,
                acting="account_owner",
                basis="portal_account_owner",
            )
        for g, cid in enumerate(people):
            gid = _uuid(self.i, g, 4)
            self.grants.append((gid, cid))
            self.emit(
                "contacts",
                stream,
                "ContactAuthorized",
                {
                    "grant_id": str(gid),
                    "contact_id": str(cid),
                    "scopes": sorted(self.rng.sample(SCOPES, 2)),
                    "valid_from": self.t.isoformat(),
                    "valid_until": (self.t + timedelta(days=90)).isoformat() if g == 2 else None,
                    "granted_by": f"customer:{n}",
                    "basis": "portal_account_owner",
                    "note": None,
                },
                owner,
                acting="account_owner",
                basis="portal_account_owner",
            )
        gid, cid = self.grants[1]
        self.emit(
            "contacts",
            stream,
            "ContactAuthorizationRevoked",
            {
                "grant_id": str(gid),
                "contact_id": str(cid),
                "reason": "left",
                "revoked_by": f"customer:{n}",
                "basis": "portal_account_owner",
            },
            owner,
            acting="account_owner",
        )
        if self.i % 3 == 0:
            self.emit(
                "contacts",
                stream,
                "OfficialInstructionIssued",
                {"document_reference": f"DOC-{n}", "issued_by": f"customer:{n}", "note": None},
                owner,
            )
        for c in range(checks):
            cid = people[c % 3]
            self.emit(
                "contacts",
                f"customer-authorization-checks-{n}",
                "AuthorizationChecked",
                {
                    "check_id": str(_uuid(self.i, c, 5)),
                    "agent": "staff:sam",
                    "requester_kind": "contact_id",
                    "requester": str(cid),
                    "requester_normalised": str(cid),
                    "contact_id": str(cid),
                    "action": "mailboxes:manage",
                    "at": self.t.isoformat(),
                    "outcome": "allowed",
                    "reasons": ["granted", "no_official_instruction"],
                    "grant_id": str(self.grants[0][0]),
                    "ticket_reference": f"T-{c}",
                },
                Actor(ActorKind.STAFF, "sam"),
                ticket=f"T-{c}",
            )

    def everything(self) -> list[tuple[str, RecordedEvent]]:
        n = self.n
        system, sam = Actor(ActorKind.SYSTEM, "identity"), Actor(ActorKind.STAFF, "sam")
        self.emit(
            "identity",
            f"customer-account-{n}",
            "CustomerAccountOpened",
            {"customer_number": n, "name": "Acme", "reference_email": f"o@{n}.example"},
            system,
        )
        for s in range(10):
            self.emit(
                "identity",
                f"session-{_uuid(self.i, s, 6)}",
                "LoginSucceeded",
                {
                    "subject": n,
                    "subject_kind": "customer",
                    "session_id": str(_uuid(self.i, s, 6)),
                    "client_address": "192.0.2.1",
                },
                Actor(ActorKind.CUSTOMER, n),
            )
        self.contacts(checks=10)
        domain = f"d{n}.example"
        self.emit(
            "domains",
            f"domain-{domain}",
            "DomainRegistered",
            {"domain": domain, "unicode_name": domain, "customer_number": n, "ftp_username": f"u{n}"},
            Actor(ActorKind.CUSTOMER, n),
            acting="account_owner",
            authorization="account_owner",
            scope="orders:place",
        )
        gid, cid = self.grants[0]
        for m in range(12):
            granted = m % 4 != 3
            meta = {
                "acting": "support_on_behalf",
                "authorization": "allowed" if granted else "best_knowledge",
                "scope": "mailboxes:manage",
                "on_behalf_of": f"contact_id:{cid}" if granted else "email:someone@x.example",
                "contact_id": str(cid) if granted else None,
                "grant_id": str(gid) if granted else None,
                "reasons": ["granted"] if granted else ["no_such_person", "no_official_instruction"],
            }
            if m % 3:
                self.emit(
                    "domains",
                    f"domain-{domain}",
                    "MailboxCreated",
                    {
                        "domain": domain,
                        "vhost": domain,
                        "mailbox_id": str(_uuid(self.i, m, 7)),
                        "address": f"box{m}@{domain}",
                        "password_link_sent_to": f"o@{n}.example",
                    },
                    sam,
                    **meta,
                )
            else:
                self.emit(
                    "domains",
                    f"domain-{domain}",
                    "RedirectSet",
                    {
                        "domain": domain,
                        "source_host": f"r{m}.{domain}",
                        "target_url": "https://yx.de/",
                        "permanent": True,
                    },
                    sam,
                    **meta,
                )
        for r in range(2):
            self.emit(
                "domains",
                f"support-requests-{n}",
                "SupportRequestRefused",
                {
                    "customer_number": n,
                    "agent": "staff:sam",
                    "on_behalf_of": "email:x@y.example",
                    "action": "credentials:request",
                    "reasons": ["grant_required", "no_such_person"],
                    "operation": "reissue_ftp_credentials",
                    "target": domain,
                    "contact_id": None,
                },
                sam,
                acting="support_on_behalf",
                authorization="denied",
                scope="credentials:request",
                on_behalf_of=f"email:x{r}@y.example",
            )
        for b in range(3):
            self.emit(
                "billing",
                f"invoice-email-{n}",
                "InvoiceEmailChanged",
                {
                    "customer_number": n,
                    "email": f"inv{b}@{n}.example",
                    "previous_email": None,
                    "requested_by": f"customer:{n}",
                    "basis": "portal_account_owner",
                },
                Actor(ActorKind.CUSTOMER, n),
                basis="portal_account_owner",
                requested_by=f"customer:{n}",
            )
        return self.out


# -- replay ---------------------------------------------------------------------------------------


async def _produce(kafka: str, topics: dict[str, str], target: int) -> tuple[int, list[str]]:
    """At least `target` events, each customer's on one partition of every topic, in whole batches."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, max_batch_size=900_000, linger_ms=50, acks=1)
    await producer.start()
    rng = random.Random(1)
    produced = 0
    customers: list[str] = []
    pending: list[asyncio.Future[Any]] = []
    batches: dict[tuple[str, int], Any] = {}
    try:
        i = 0
        while produced < target:
            story = _Story(i, rng)
            customers.append(story.n)
            partition = i % PARTITIONS
            for service, event in story.everything():
                record = cloudevents.to_kafka(service, event)
                key = (topics[service], partition)
                batch = batches.get(key) or producer.create_batch()
                if batch.append(key=record.key, value=record.value, timestamp=None, headers=record.headers) is None:
                    pending.append(await producer.send_batch(batch, key[0], partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=record.key, value=record.value, timestamp=None, headers=record.headers)
                batches[key] = batch
                produced += 1
            i += 1
            if len(pending) > 50:
                await asyncio.gather(*pending)
                pending.clear()
        for (topic, partition), batch in batches.items():
            pending.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return produced, customers


async def _replay(kafka: str, figures: dict[str, float]) -> None:
    tag = uuid.uuid4().hex[:8]
    topics = {s: f"bench-audit-{tag}-{s}.events" for s in SERVICES}
    await ensure_topics(kafka, [TopicSpec(t, partitions=PARTITIONS) for t in topics.values()])
    try:
        started = time.perf_counter()
        produced, customers = await _produce(kafka, topics, REPLAY_EVENTS)
        figures["events_produced"] = produced
        figures["produce_seconds"] = time.perf_counter() - started

        model = AuditModel()
        started = time.perf_counter()
        report = await TopicReader(kafka, list(topics.values())).read_into(model)
        replay_s = time.perf_counter() - started
        assert report.records == produced, (report.records, produced)
        assert model.event_count == produced
        figures["replay_events_per_s"] = produced / replay_s
        figures["replay_seconds"] = replay_s

        rng = random.Random(2)
        n = rng.choice(customers)
        started = time.perf_counter()
        answer = questions.authorizations_as_of(model, n, BASE + timedelta(days=30))
        figures["first_as_of_answer_ms"] = (time.perf_counter() - started) * 1000
        assert answer.customer_number == n

        started = time.perf_counter()
        model.materialize()
        fold_s = time.perf_counter() - started
        figures["full_fold_seconds"] = fold_s
        figures["replay_with_full_fold_events_per_s"] = produced / (replay_s + fold_s)

        latencies = []
        for _ in range(2000):
            n = rng.choice(customers)
            at = BASE + timedelta(hours=rng.randint(0, 24 * 400))
            t0 = time.perf_counter()
            questions.authorizations_as_of(model, n, at)
            latencies.append((time.perf_counter() - t0) * 1000)
        figures["as_of_answer_p50_ms"] = percentile(latencies, 50)
        figures["as_of_answer_p99_ms"] = percentile(latencies, 99)
        object_ms = []
        for n in rng.sample(customers, 5):
            started = time.perf_counter()
            found = questions.authority_of_object(model, f"box1@d{n}.example")
            object_ms.append((time.perf_counter() - started) * 1000)  # a scan of every action
            assert found, n
        figures["authority_of_object_first_ms"] = object_ms[0]
        figures["authority_of_object_p50_ms"] = percentile(object_ms, 50)
        started = time.perf_counter()
        model.state_hash()
        figures["state_hash_seconds"] = time.perf_counter() - started
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        await admin.start()
        try:
            await admin.delete_topics(list(topics.values()))
        finally:
            await admin.close()


# -- a large store: verification and rebuilds -------------------------------------------------------

_COLUMNS = [
    "event_id", "stream_id", "stream_version", "event_type", "schema_version", "customer_number", "occurred_at",
    "actor", "correlation_id", "causation_id", "metadata", "data", "chain_hash",
]  # fmt: skip


_INSERT = f"""
INSERT INTO events ({", ".join(_COLUMNS)})
SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[], $7::timestamptz[],
                     $8::text[], $9::uuid[], $10::uuid[], $11::jsonb[], $12::jsonb[], $13::bytea[])
"""  # noqa: S608 - column names from the constant above


async def _write_store(pool: db.Pool, target: int) -> int:
    """A contacts store of about `target` events, chained exactly as the store chains them."""
    rng = random.Random(3)
    written = i = 0
    while written < target:
        rows = []
        for _ in range(500):
            story = _Story(i, rng)
            story.contacts(checks=12)
            i += 1
            heads: dict[str, bytes] = {}
            for _, e in story.out:
                actor = str(e.actor)
                chain = link(
                    heads.get(e.stream_id, GENESIS),
                    canonical(
                        event_id=e.event_id, stream_id=e.stream_id, stream_version=e.stream_version,
                        event_type=e.event_type, schema_version=e.schema_version, customer_number=e.customer_number,
                        occurred_at=e.occurred_at, actor=actor, correlation_id=e.correlation_id,
                        causation_id=e.causation_id, metadata=e.metadata, data=e.data,
                    ),
                )  # fmt: skip
                heads[e.stream_id] = chain
                rows.append(
                    (
                        e.event_id, e.stream_id, e.stream_version, e.event_type, e.schema_version, e.customer_number,
                        e.occurred_at, actor, e.correlation_id, e.causation_id, e.metadata, e.data, chain,
                    )
                )  # fmt: skip
        columns = list(zip(*rows, strict=True))
        await pool.execute(_INSERT, *columns)
        written += len(rows)
    return written


async def _limited(events: AsyncGenerator[RecordedEvent, None], limit: int) -> AsyncIterator[RecordedEvent]:
    count = 0
    async with contextlib.aclosing(events):  # the store's read holds a connection until closed
        async for event in events:
            yield event
            count += 1
            if count >= limit:
                return


async def _store(server_dsn: str, kafka: str, figures: dict[str, float]) -> None:
    url = await fresh_database(server_dsn, "bench_audit_store", kernel_schema=True)
    pool = await db.create_pool(url, min_size=2, max_size=4)
    try:
        started = time.perf_counter()
        events = await _write_store(pool, STORE_EVENTS)
        figures["store_events"] = events
        figures["store_write_seconds"] = time.perf_counter() - started
        await pool.execute("ANALYZE events")

        topic = f"bench-audit-{uuid.uuid4().hex[:8]}.checkpoints"
        await ensure_topics(kafka, [TopicSpec(topic, partitions=1)])
        producer = idempotent_producer(kafka, "bench-audit-checkpoints")
        await producer.start()
        try:
            publisher = CheckpointPublisher(service="contacts", pool=pool, producer=producer, topic=topic)
            started = time.perf_counter()
            await publisher.publish()
            figures["first_checkpoint_seconds"] = time.perf_counter() - started
            started = time.perf_counter()
            await publisher.publish(force=True)
            figures["idle_checkpoint_ms"] = (time.perf_counter() - started) * 1000
        finally:
            await producer.stop()
        log = await read_checkpoint_log(kafka, "contacts", topic)
        async with pool.acquire() as conn:
            report = await verify_store(conn, "contacts", log)
        assert report.ok, report.summary()
        figures["verify_events_per_s"] = report.events / report.seconds
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        await admin.start()
        try:
            await admin.delete_topics([topic])
        finally:
            await admin.close()

        from services.contacts.domain.events import registry

        # Rebuilds read only the authorization event types (filtered in SQL): rates are given over
        # the store's total (`..._events_per_s`, what a rebuild of this store takes) and over the
        # events actually read (`..._read_events_per_s`). In memory: the bulk load every contacts
        # API process does at start (PostgreSQL extracts the contract's fields), and for
        # comparison the fold of whole recorded events as a Kafka consumer gets them.
        store = PostgresEventStore(pool, registry)
        started = time.perf_counter()
        _, read = await load_authorizations(store, AuthorizationMemory())
        seconds = time.perf_counter() - started
        figures["rebuild_events_read"] = read
        figures["rebuild_in_memory_events_per_s"] = events / seconds
        figures["rebuild_in_memory_read_events_per_s"] = read / seconds
        memory = AuthorizationMemory()
        started = time.perf_counter()
        with bulk_load():
            async for event in events_from_store(store, event_types=AUTHORIZATION_EVENT_TYPES):
                memory.apply(event)
        figures["rebuild_in_memory_from_recorded_events_per_s"] = events / (time.perf_counter() - started)

        projection = AuthorizationProjection()
        await pool.execute(projection.ddl)  # empty live tables: rebuild() compares with them (we only time it)
        started = time.perf_counter()
        with bulk_load():
            result = await rebuild(pool, projection, events_from_store(store, event_types=projection.event_types))
        seconds = time.perf_counter() - started
        assert result.events == read, (result.events, read)
        figures["rebuild_into_postgres_events_per_s"] = events / seconds
        figures["rebuild_into_postgres_read_events_per_s"] = result.events / seconds
        # For comparison: one statement per event (as before the bulk path), over the first events.
        started = time.perf_counter()
        result = await rebuild(pool, projection, _limited(events_from_store(store), PG_REBUILD_EVENTS), bulk=False)
        figures["rebuild_into_postgres_per_event_events_per_s"] = result.events / (time.perf_counter() - started)
    finally:
        await pool.close()
        server = await asyncpg.connect(server_dsn)
        try:
            await server.execute('DROP DATABASE IF EXISTS "bench_audit_store" WITH (FORCE)')
        finally:
            await server.close()


async def bench_audit(pg_server_dsn: str, kafka: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    await _replay(kafka, figures)
    await _store(pg_server_dsn, kafka, figures)
    return figures


if __name__ == "__main__":
    import os
    import sys

    dsn = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:25432")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:29092")
    for key, value in asyncio.run(bench_audit(dsn, bootstrap)).items():
        print(f"  {key:<36} {value:>14,.2f}")
    sys.stdout.flush()
