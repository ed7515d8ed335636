"""What operators see: Prometheus metrics per service and per worker, and log lines that carry the
same request and correlation ids as the events a request caused."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from services.identity.bootstrap import build_spec as identity_spec
from shared.clock import FixedClock
from shared.db import Pool
from shared.eventstore.postgres import PostgresEventStore
from shared.http.worker_endpoint import start_worker_endpoint
from shared.infra.processes import free_port
from shared.infra.smtp_sink import SmtpSink
from shared.relay import OutboxRelay
from tests.conftest import create_database
from tests.contracts.conftest import Contacts
from tests.integration.identity.harness import IdentityHarness, cheap_hasher, now_utc
from tests.support.context import context
from tests.support.events import ThingHappened, registry
from tests.support.processes import service_process, wait_until
from tests.support.services import running_service

pytestmark = pytest.mark.integration


def _customer() -> str:
    return str(random.randint(10_000_000, 99_999_999))


def _samples(text: str, name: str) -> list[dict[str, str]]:
    return [
        {**sample.labels, "__value__": str(sample.value)}
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


async def test_http_metrics_are_labelled_by_route_template_not_by_path(contacts: Contacts) -> None:
    customer = _customer()
    for _ in range(2):
        r = await contacts.client.get(
            f"/api/contacts/v1/customers/{customer}/contacts", headers=contacts.issuer.customer(customer)
        )
        assert r.status_code == 200, r.text
    assert (await contacts.client.get(f"/api/contacts/v1/nowhere/{customer}")).status_code == 404

    text = (await contacts.client.get("/api/contacts/metrics")).text
    assert customer not in text  # no raw path (and so no customer number) in any label
    requests = _samples(text, "http_requests_total")
    template = "/api/contacts/v1/customers/{customer_number}/contacts"
    [listed] = [s for s in requests if s["route"] == template and s["method"] == "GET" and s["status"] == "200"]
    assert float(listed["__value__"]) >= 2
    assert any(s["route"] == "unmatched" and s["status"] == "404" for s in requests)
    buckets = [s for s in _samples(text, "http_request_duration_seconds_bucket") if s["route"] == template]
    assert len(buckets) > 5  # a histogram, not a single average


async def test_relay_lag_counts_committed_events_not_yet_published(pool: Pool, kafka: str, topic: str) -> None:
    from shared.kafka import idempotent_producer

    store = PostgresEventStore(pool, registry)
    producer = idempotent_producer(kafka, f"lag-{uuid.uuid4().hex[:6]}")
    await producer.start()
    try:
        relay = OutboxRelay(service="tests", pool=pool, store=store, producer=producer, topic=topic, batch_size=4)
        for i in range(10):
            await store.append(f"lag-{i}", 0, [ThingHappened(i)], context())
        await relay.report_lag()
        assert REGISTRY.get_sample_value("relay_lag_events", {"topic": topic}) == 10
        published_before = REGISTRY.get_sample_value("relay_published_total", {"topic": topic}) or 0
        assert await relay.drain() == 10
        assert REGISTRY.get_sample_value("relay_lag_events", {"topic": topic}) == 0
        assert REGISTRY.get_sample_value("relay_published_total", {"topic": topic}) == published_before + 10
    finally:
        await producer.stop()


async def test_projection_positions_and_relay_metrics_of_a_running_service(contacts: Contacts) -> None:
    await contacts.add_contact(customer := _customer(), f"p-{customer}@example.org")
    for runner in contacts.app.state.workers.projection_runners:
        await runner.catch_up()
    text = (await contacts.client.get("/api/contacts/metrics")).text
    positions = {s["projection"]: float(s["__value__"]) for s in _samples(text, "projection_position")}
    lags = {s["projection"]: float(s["__value__"]) for s in _samples(text, "projection_lag_events")}
    for runner in contacts.app.state.workers.projection_runners:
        assert positions[runner.projection.name] > 0
        assert lags[runner.projection.name] == 0
    assert any(s["topic"] == "contacts.events" for s in _samples(text, "relay_lag_events"))


async def test_log_lines_carry_the_ids_that_go_into_the_events(contacts: Contacts) -> None:
    store = contacts.app.state.runtime.store
    correlation, request_id = str(uuid.uuid4()), f"req-{uuid.uuid4().hex[:8]}"
    customer = _customer()
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = await contacts.add_contact(
            customer, f"l-{customer}@example.org", {"X-Correlation-ID": correlation, "X-Request-ID": request_id}
        )
    assert (response.headers["x-correlation-id"], response.headers["x-request-id"]) == (correlation, request_id)
    [line] = [entry for entry in logs if entry["event"] == "http_request" and entry["method"] == "POST"]
    assert (line["correlation_id"], line["request_id"]) == (correlation, request_id)
    assert line["route"] == "/api/contacts/v1/customers/{customer_number}/contacts"
    [event] = (await store.load(f"customer-contacts-{customer}")).events
    assert str(event.correlation_id) == correlation
    assert event.metadata["request_id"] == request_id

    # Without the caller's ids the service makes them, and still uses the same ones everywhere.
    other = _customer()
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = await contacts.add_contact(other, f"m-{other}@example.org")
    [line] = [entry for entry in logs if entry["event"] == "http_request" and entry["method"] == "POST"]
    [event] = (await store.load(f"customer-contacts-{other}")).events
    assert line["correlation_id"] == response.headers["x-correlation-id"] == str(event.correlation_id)
    assert line["request_id"] == response.headers["x-request-id"] == event.metadata["request_id"]


async def test_worker_endpoint_answers_health_and_metrics(contacts: Contacts) -> None:
    workers = contacts.app.state.workers
    assert workers.alive()
    alive = [True]
    port = free_port()
    server = await start_worker_endpoint("127.0.0.1", port, lambda: alive[0])
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            health = await client.get("/healthz")
            assert (health.status_code, health.json()) == (200, {"status": "ok"})
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert "relay_published_total" in metrics.text
            assert (await client.get("/elsewhere")).status_code == 404
            alive[0] = False  # a worker loop died: the liveness probe must fail
            assert (await client.get("/healthz")).status_code == 503
    finally:
        server.close()
        await server.wait_closed()


async def test_a_worker_process_serves_metrics_on_worker_metrics_port(pg_server: str, kafka: str) -> None:
    port = free_port()
    env = {
        "CONTACTS_DATABASE_URL": await create_database(pg_server),
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "WORKER_METRICS_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    async with (
        service_process("contacts", "worker", env) as process,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client,
    ):

        async def ready() -> bool:
            health = await client.get("/healthz")
            metrics = await client.get("/metrics")
            return health.status_code == 200 and 'relay_lag_events{topic="contacts.events"}' in metrics.text

        await wait_until(ready, process, "the worker's endpoint")


@pytest.fixture
async def identity(pg_server: str, kafka: str, service_topics: object) -> AsyncIterator[IdentityHarness]:
    sink = SmtpSink()
    port = sink.start()
    try:
        async with running_service(
            identity_spec(hasher=cheap_hasher()),
            await create_database(pg_server),
            kafka,
            clock=FixedClock(now_utc()),
            smtp_port=port,
        ) as (app, client):
            yield IdentityHarness(app, client, app.state.runtime.clock, sink)
    finally:
        sink.stop()


async def test_login_failures_and_throttles_are_counted(identity: IdentityHarness) -> None:
    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    failures = ("login_failures_total", {"kind": "customer", "reason": "no_password_set"})
    unknown = ("login_failures_total", {"kind": "customer", "reason": "unknown_subject"})
    crossed = ("accounts_throttled_total", {"kind": "customer", "reason": "progressive_delay"})
    refused = ("login_throttled_total", {"kind": "customer"})
    before = {name + str(labels): value(name, **labels) for name, labels in (failures, unknown, crossed, refused)}

    number, _ = await identity.open_account()
    for _ in range(5):
        assert (await identity.login(number, "not-the-password")).status_code == 401
    assert (await identity.login(number, "not-the-password")).status_code == 429
    assert (await identity.login(_customer(), "whatever")).status_code == 401

    def delta(name: str, labels: dict[str, str]) -> float:
        return value(name, **labels) - before[name + str(labels)]

    assert delta(*failures) == 5
    assert delta(*unknown) == 1
    assert delta(*crossed) == 1
    assert delta(*refused) == 1
    exposed = (await identity.client.get("/api/identity/metrics")).text
    assert "login_failures_total" in exposed
    assert "login_throttled_total" in exposed
