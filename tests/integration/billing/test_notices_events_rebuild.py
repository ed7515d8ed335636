"""Notices over SMTP, the events on billing.events, and rebuilds of billing's read models."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from services.billing.domain.events import registry
from shared import cloudevents
from shared.consumer import KafkaConsumerRunner
from shared.db import Pool
from shared.kafka import topic_partitions
from shared.rebuild import drop_scratch, events_from_store, events_from_topics, rebuild
from tests.integration.billing.conftest import BillingEnv, new_customer, records_with_ids
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def test_a_changed_invoice_email_is_announced_to_the_previous_and_the_new_address(env: BillingEnv) -> None:
    n = await env.open_account(new_customer(), name="Acme GmbH")
    r = await env.put(n, "invoice-email", {"email": f"first-{n}@example.org"}, env.owner(n), version=0)
    assert r.status_code == 200, r.text
    welcome = await env.sink.wait_for(lambda m: m["To"] == f"first-{n}@example.org", timeout=15)
    assert "will be sent to this address" in welcome["Subject"]

    ada, _ = await env.add_contact(n, "ada@example.org")
    _, version = await env.grant(n, ada, ["billing:manage"])
    await env.billing_knows(n, version)
    env.tick()
    change = {"email": f"second-{n}@example.org", "on_behalf_of": {"email": "ada@example.org"}}
    r = await env.put(n, "invoice-email", change, env.support("sam"), version=1)
    assert r.status_code == 200, r.text

    old = await env.sink.wait_for(
        lambda m: m["To"] == f"first-{n}@example.org" and "no longer" in m["Subject"], timeout=15
    )
    new = await env.sink.wait_for(lambda m: m["To"] == f"second-{n}@example.org", timeout=15)
    assert n in old["Subject"]
    assert n in new["Subject"]
    text = old.get_content()
    assert text.startswith("Hello Acme GmbH,")
    assert "s***@example.org" in text
    assert f"second-{n}@example.org" not in text
    assert "authorized to manage billing data" in text
    assert f"customer {n}" in new.get_content()
    # Each notice was sent once and marked.
    sent = await env.pool.fetch(
        "SELECT role, recipient, sent_at IS NOT NULL AS sent FROM invoice_email_notices WHERE customer_number = $1"
        " ORDER BY created_at, role",
        n,
    )
    assert [(s["role"], s["recipient"], s["sent"]) for s in sent] == [
        ("new", f"first-{n}@example.org", True),
        ("new", f"second-{n}@example.org", True),
        ("previous", f"first-{n}@example.org", True),
    ]
    assert len([m for m in env.sink.messages if n in str(m["Subject"])]) == 3


async def test_billing_events_arrive_on_billing_events_as_cloudevents_with_the_decision(env: BillingEnv) -> None:
    n = await env.open_account(new_customer())
    ada, _ = await env.add_contact(n, "ada@example.org")
    grant_id, version = await env.grant(n, ada, ["all"])
    await env.billing_knows(n, version)
    env.tick()
    address = {"recipient": "Acme", "street": "Ring 1", "postcode": "8001", "city": "Zürich", "country": "CH"}
    await env.put(n, "billing-address", {**address, "on_behalf_of": {"contact_id": ada}}, env.support(), version=0)
    await env.put(n, "invoice-email", {"email": "ap@example.org"}, env.owner(n), version=0)
    await env.grant(n, ada, ["dns:change"])  # a second grant; then revoke "all"
    revoked = await env.revoke(n, grant_id)
    await env.billing_knows(n, revoked)
    denied = await env.put(n, "billing-address", {**address, "on_behalf_of": {"contact_id": ada}}, env.support())
    assert denied.status_code == 403

    store = env.billing_app.state.runtime.store
    stored = [e for e in await store.read_all() if e.customer_number == n]
    assert [e.event_type for e in stored] == ["BillingAddressChanged", "InvoiceEmailChanged", "SupportRequestRefused"]
    records = await records_with_ids(env.kafka, "billing.events", {str(e.event_id) for e in stored})
    by_id = {str(e.event_id): e for e in stored}
    for record in records:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["ce_source"] == "/accounts/billing"
        assert record.key.decode() == n
        event = cloudevents.from_kafka(record.value, record.headers)
        original = by_id[str(event.event_id)]
        assert headers["ce_type"] == f"hosting.accounts.billing.{original.event_type}.v1"
        assert event.data == orjson.loads(orjson.dumps(original.data))
        assert event.metadata == orjson.loads(orjson.dumps(original.metadata))
        registry.decode(event)
    published = {cloudevents.from_kafka(r.value, r.headers).event_type: r for r in records}
    changed = cloudevents.from_kafka(
        published["BillingAddressChanged"].value, published["BillingAddressChanged"].headers
    )
    assert changed.actor.kind.value == "staff"
    assert changed.data["requested_by"] == f"contact:{ada}"
    assert changed.metadata["grant_id"] == grant_id
    assert changed.metadata["outcome"] == "allowed"
    assert changed.metadata["basis"] == "contact_grant"
    assert changed.metadata["authorization_version"]["stream_version"] == 2
    assert changed.metadata["request_id"]


async def _consumed_everything(pool: Pool, kafka: str, consumer: str, topics: tuple[str, ...]) -> None:
    """Wait until a live consumer's stored offsets reached the topics' current ends."""
    partitions = await topic_partitions(kafka, list(topics))
    probe = AIOKafkaConsumer(bootstrap_servers=kafka, group_id=None)
    await probe.start()
    try:
        ends = await probe.end_offsets(partitions)
    finally:
        await probe.stop()

    async def caught_up() -> bool:
        rows = await pool.fetch(
            "SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer = $1", consumer
        )
        stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        return all(stored.get((tp.topic, tp.partition), 0) >= end for tp, end in ends.items())

    await eventually(caught_up, f"{consumer} to consume {topics}")


async def test_rebuilding_billings_read_models_gives_the_live_ones(env: BillingEnv) -> None:
    n = await env.open_account(new_customer())
    ada, _ = await env.add_contact(n, "ada@example.org", phone="0171 5550123")
    bob, _ = await env.add_contact(n, "bob@example.org")
    g, _ = await env.grant(n, ada, ["billing:manage"])
    await env.grant(n, bob, ["dns:change"])
    env.tick()
    await env.revoke(n, g)
    env.tick()
    version = await env.issue_instruction(n, "D-7")
    await env.billing_knows(n, version)
    await env.put(n, "invoice-email", {"email": "ap@example.org"}, env.owner(n), version=0)
    await env.put(n, "invoice-email", {"email": "x@example.org", "on_behalf_of": {"contact_id": ada}}, env.support())
    await env.history(n)  # the own-store projection is caught up

    runtime = env.billing_app.state.runtime
    for projection in runtime.spec.projections:
        report = await rebuild(runtime.pool, projection, events_from_store(runtime.store))
        assert report.events > 0
        assert report.identical, (projection.name, report.diffs)
        await drop_scratch(runtime.pool, projection)
    consumers: list[KafkaConsumerRunner] = env.billing_app.state.workers.consumers
    for consumer in consumers:
        projection = consumer.projection
        await _consumed_everything(runtime.pool, env.kafka, consumer.name, tuple(projection.topics))
        report = await rebuild(runtime.pool, projection, events_from_topics(env.kafka, projection.topics))
        assert report.events > 0
        assert report.identical, (projection.name, report.diffs)
        await drop_scratch(runtime.pool, projection)
    assert {c.projection.name for c in consumers} == {"customer-accounts", "authorization"}
