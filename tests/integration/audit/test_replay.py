"""Replay from Kafka: a generated history of a thousand customers, written through the real event
stores of contacts, billing and domains and published by the real relay, replayed into the audit
model and compared with what the contacts service itself answers "as of" many instants."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from services.billing.domain.events import registry as billing_registry
from services.contacts.domain.events import registry as contacts_registry
from services.contacts.service import SPEC as CONTACTS
from services.domains.domain.events import registry as domains_registry
from shared import cloudevents, db
from shared.audit import questions
from shared.audit.model import AuditModel
from shared.audit.replay import TopicReader, replay
from shared.auth.principal import Role
from shared.auth.testing import TestTokenIssuer
from shared.clock import FixedClock
from shared.db import Pool
from shared.service import create_app
from shared.settings import ServiceSettings
from tests.conftest import fresh_database
from tests.integration.audit.conftest import relay, scratch_topics, write
from tests.support.services import revocations_read
from tests.unit.audit.history import HistoryGenerator, generate

pytestmark = pytest.mark.integration

CUSTOMERS = [str(50_000_000 + i) for i in range(1000)]
STEPS = 16000
REGISTRIES = {"contacts": contacts_registry, "billing": billing_registry, "domains": domains_registry}


@dataclass
class World:
    history: HistoryGenerator
    topics: dict[str, str]
    pools: dict[str, Pool]
    urls: dict[str, str]
    written: int
    model: AuditModel
    state_hash: str
    kafka: str


@pytest.fixture(scope="module")
async def world(pg_server: str, kafka: str) -> AsyncIterator[World]:
    history = generate(2026, CUSTOMERS, STEPS)
    topics = await scratch_topics(kafka)
    urls = {s: await fresh_database(pg_server) for s in REGISTRIES}
    pools = {s: await db.create_pool(urls[s], max_size=8) for s in REGISTRIES}
    written = 0
    for service, registry in REGISTRIES.items():
        written += await write(pools[service], registry, [a for a in history.appends if a.service == service])
        await relay(pools[service], registry, kafka, service, topics[service])
    model, report = await replay(kafka, list(topics.values()))
    assert report.records == written
    yield World(history, topics, pools, urls, written, model, model.state_hash(), kafka)
    for pool in pools.values():
        await pool.close()


@pytest.fixture(scope="module")
async def contacts_api(world: World) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """The real contacts app over the contacts store (no workers: nothing else is published)."""
    issuer = TestTokenIssuer()
    clock = FixedClock(world.history.now + timedelta(days=30))
    settings = ServiceSettings(
        service="contacts", database_url=world.urls["contacts"], kafka_bootstrap_servers=world.kafka, port=0
    )
    app = create_app(CONTACTS, settings, with_workers=False, clock=clock, verifier=issuer.verifier())
    async with app.router.lifespan_context(app):
        await revocations_read(app)
        # The generated world has no identity: its accounts, as contacts' copy of identity.events
        # would hold them (staff asking about a customer contacts never heard of get 404).
        await world.pools["contacts"].executemany(
            "INSERT INTO customer_accounts (customer_number, opened_at, changed_at) VALUES ($1, $2, $2)"
            " ON CONFLICT DO NOTHING",
            [(n, world.history.now) for n in world.model.customer_numbers],
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://contacts.test") as client:
            yield client, issuer.staff("carla", Role.COMPLIANCE)


def _facts(answer: dict[str, Any]) -> Any:
    """An authorizations answer reduced to comparable facts (instants parsed, order fixed)."""

    def instant(value: Any) -> datetime | None:
        return None if value is None else datetime.fromisoformat(str(value).replace("Z", "+00:00"))

    instruction = answer["official_instruction"]
    return (
        instruction["in_force"],
        instruction["document_reference"],
        instant(instruction["since"]),
        instruction["changed_by"],
        sorted(
            (
                str(h["contact_id"]),
                tuple(h["scopes"]),
                tuple(
                    (
                        str(g["grant_id"]),
                        tuple(g["scopes"]),
                        instant(g["valid_from"]),
                        instant(g["valid_until"]),
                        instant(g["granted_at"]),
                        g["granted_by"],
                        g["basis"],
                        instant(g["revoked_at"]),
                    )
                    for g in sorted(h["grants"], key=lambda g: str(g["grant_id"]))
                ),
            )
            for h in answer["holders"]
        ),
    )


async def test_every_event_is_read_once(world: World) -> None:
    assert world.model.event_count == world.written
    assert world.model.stats.duplicates == 0
    assert world.model.stats.malformed == []
    assert len(world.model.customer_numbers) == len({a.context.customer_number for a in world.history.appends})
    types = world.model.type_counts()
    assert types[("contacts", "ContactAuthorized")] > 500
    assert types[("domains", "MailboxCreated")] > 50
    assert types[("billing", "InvoiceEmailChanged")] > 50


async def test_as_of_answers_equal_the_contacts_services_own(
    world: World, contacts_api: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    client, compliance = contacts_api
    rng = random.Random(99)
    # The replay's reading order interleaves the partitions differently from run to run: sample from
    # the canonical order so that every run compares the same instants (and the same holders).
    contacts_events = sorted((e for e in world.model.events() if e.service == "contacts"), key=lambda e: e.sort_key)
    grants = [e for e in contacts_events if e.event_type == "ContactAuthorized"]
    compared = holders = 0
    started = time.monotonic()
    for _ in range(300):
        event = rng.choice(grants if rng.random() < 0.5 else contacts_events)
        at = event.occurred_at + rng.choice(
            [timedelta(0), timedelta(microseconds=-1), timedelta(hours=rng.randint(1, 400))]
        )
        n = event.customer_number
        ours = orjson.loads(orjson.dumps(questions.authorizations_as_of(world.model, n, at)))
        r = await client.get(
            f"/api/contacts/v1/customers/{n}/authorizations", params={"at": at.isoformat()}, headers=compliance
        )
        assert r.status_code == 200, r.text
        assert _facts(ours) == _facts(r.json()), (n, at)
        compared += 1
        holders += len(ours["holders"])
    assert compared == 300
    assert holders > 150, holders
    assert time.monotonic() - started < 60


async def test_support_decisions_agree_with_the_replay(world: World) -> None:
    """As of the action, or (billing's generated copy lags now and then) on what its copy had."""
    compared = lagged = 0
    for n in world.model.customer_numbers:
        for event in world.model.history(n).actions:
            answer = questions.answer_authority(world.model, event)
            if answer.agrees is not None:
                compared += 1
                if not answer.agrees:
                    lagged += 1
                    assert answer.agrees_with_copy is True, answer.discrepancy
    assert compared > 1000
    assert lagged < compared / 10


async def test_the_replay_is_deterministic_whatever_the_partitioning(world: World, kafka: str) -> None:
    again, _ = await replay(kafka, list(world.topics.values()))
    assert again.state_hash() == world.state_hash
    # A copy of the topics with one partition each (another interleaving of the customers), the
    # customers in reverse order and every tenth event published twice (a relay's re-publication).
    copies = await scratch_topics(kafka, partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=20)
    await producer.start()
    try:
        by_customer: dict[str, list[Any]] = {}
        for e in sorted(world.model.events(), key=lambda e: (e.customer_number, e.sort_key)):
            by_customer.setdefault(e.customer_number, []).append(e)
        for n in sorted(by_customer, reverse=True):
            for i, e in enumerate(by_customer[n]):
                record = cloudevents.to_kafka(e.service, e.to_recorded())
                for _ in range(2 if i % 10 == 0 else 1):
                    await producer.send(copies[e.service], record.value, key=record.key, headers=record.headers)
        await producer.flush()
    finally:
        await producer.stop()
    copied, _report = await replay(kafka, list(copies.values()))
    assert copied.stats.duplicates > 0
    assert copied.event_count == world.model.event_count
    assert copied.state_hash() == world.state_hash


async def test_a_reader_continues_where_it_stopped(world: World) -> None:
    reader = TopicReader(world.kafka, list(world.topics.values()))
    model = AuditModel()
    first = await reader.read_into(model)
    assert first.added == world.written
    second = await reader.read_into(model)
    assert (second.records, second.added) == (0, 0)


async def test_small_responses_read_the_same_model(world: World) -> None:
    """Responses cut at their size limits, batches split across fetches: the same events, once each."""
    reader = TopicReader(world.kafka, list(world.topics.values()), max_bytes=64 * 1024, partition_max_bytes=16 * 1024)
    model = AuditModel()
    report = await reader.read_into(model)
    assert report.records == world.written
    assert model.stats.duplicates == 0
    assert model.state_hash() == world.state_hash


async def test_the_replay_command_prints_the_same_state_hash(world: World) -> None:
    from typer.testing import CliRunner

    from shared.audit.cli import app

    args = ["replay", "--kafka", world.kafka]
    for topic in world.topics.values():
        args += ["--topic", topic]
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 0, result.output
    assert f"state hash {world.state_hash}" in result.output
    assert "ContactAuthorized" in result.output
