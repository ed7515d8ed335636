"""The launcher brings up real servers that behave as the services expect.

One embedded stack (PostgreSQL + Kafka) is started for the whole module through
start_infrastructure(), the same call `make run` uses, in its own state directory on free ports;
the other tests lean on it instead of starting servers of their own.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import UnknownTopicOrPartitionError

from shared.infra.errors import StateConflict
from shared.infra.gateway import NOT_FOUND_BODY, CaddyGateway
from shared.infra.kafka import EmbeddedKafka, TopicSpec, ensure_topics
from shared.infra.postgres import EmbeddedPostgres, ensure_databases, ensure_databases_async
from shared.infra.processes import free_port, read_pid_file
from shared.infra.smtp_sink import SmtpSink
from shared.infra.stack import Infrastructure, start_infrastructure

pytestmark = pytest.mark.integration

EVENTS_TOPIC = TopicSpec("launcher-test.events")


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("launcher")


@pytest.fixture(scope="module")
def infra(state_dir: Path) -> Iterator[Infrastructure]:
    infrastructure = start_infrastructure(
        state_dir,
        postgres_port=free_port(),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        databases=["accounts_contacts", "accounts_billing"],
        topics=[EVENTS_TOPIC],
        smtp_port=free_port(),
        environ={},  # embedded servers, whatever the developer's shell exports
    )
    yield infrastructure
    infrastructure.stop()


@pytest.fixture(scope="module")
def postgres(infra: Infrastructure) -> EmbeddedPostgres:
    assert infra.started_postgres is not None
    return infra.started_postgres


@pytest.fixture(scope="module")
def kafka(infra: Infrastructure) -> EmbeddedKafka:
    assert infra.started_kafka is not None
    return infra.started_kafka


# --- PostgreSQL -------------------------------------------------------------------------------


async def test_each_database_accepts_connections(infra: Infrastructure) -> None:
    for database in ("accounts_contacts", "accounts_billing"):
        connection = await asyncpg.connect(infra.postgres_dsn_for(database))
        try:
            assert await connection.fetchval("select 1") == 1
            assert await connection.fetchval("select current_database()") == database
        finally:
            await connection.close()


async def test_concurrent_database_creation_does_not_fail(postgres: EmbeddedPostgres) -> None:
    name = f"race_{uuid.uuid4().hex[:8]}"
    await asyncio.gather(*(ensure_databases_async(postgres.dsn, [name]) for _ in range(4)))
    ensure_databases(postgres.dsn, [name])  # the synchronous form, from inside a running loop

    connection = await asyncpg.connect(postgres.dsn)
    try:
        assert await connection.fetchval("select count(*) from pg_database where datname = $1", name) == 1
    finally:
        await connection.close()


def test_postgres_start_reuses_the_running_server(state_dir: Path, postgres: EmbeddedPostgres) -> None:
    pid_before = read_pid_file(postgres.data_dir / "postmaster.pid")

    again = EmbeddedPostgres(state_dir, postgres.port)
    assert again.start() == postgres.dsn

    assert not again.started_here
    assert read_pid_file(postgres.data_dir / "postmaster.pid") == pid_before
    with pytest.raises(StateConflict):
        EmbeddedPostgres(state_dir, free_port()).start()


def test_a_port_taken_by_another_process_is_refused(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        port = squatter.getsockname()[1]
        with pytest.raises(StateConflict, match="already in use"):
            EmbeddedPostgres(tmp_path, port).start()


def test_a_second_postgres_runs_alongside(tmp_path: Path, postgres: EmbeddedPostgres) -> None:
    other = EmbeddedPostgres(tmp_path, free_port())
    try:
        other.start()
        assert other.is_running()
        assert postgres.is_running()
    finally:
        other.stop()
    assert not other.is_running()


# --- Kafka ------------------------------------------------------------------------------------


async def test_a_message_makes_the_round_trip(infra: Infrastructure) -> None:
    await ensure_topics(infra.kafka_bootstrap, [EVENTS_TOPIC])  # already there: a no-op

    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(EVENTS_TOPIC.name, b"ContactAuthorized", key=b"C-1001")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        EVENTS_TOPIC.name, bootstrap_servers=infra.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=20)
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"C-1001", b"ContactAuthorized")


async def test_topics_keep_events_forever_and_are_never_created_implicitly(infra: Infrastructure) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, EVENTS_TOPIC.name),
                ConfigResource(ConfigResourceType.BROKER, "1"),
            ]
        )
        configs = {
            resource["resource_name"]: {
                entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]
            }
            for response in responses
            for resource in response.to_object()["resources"]
        }
        assert configs[EVENTS_TOPIC.name]["retention.ms"] == "-1"
        assert configs["1"]["auto.create.topics.enable"] == "false"
        assert len((await admin.describe_topics([EVENTS_TOPIC.name]))[0]["partitions"]) == 3

        producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, request_timeout_ms=1000)
        await producer.start()
        try:
            with pytest.raises(UnknownTopicOrPartitionError):
                await producer.send_and_wait("no-such-topic.events", b"lost")
        finally:
            await producer.stop()
        assert "no-such-topic.events" not in await admin.list_topics()
    finally:
        await admin.close()


def test_kafka_start_reuses_the_running_broker(state_dir: Path, kafka: EmbeddedKafka) -> None:
    pid_before = read_pid_file(kafka.pid_file)

    again = EmbeddedKafka(state_dir, kafka.port, kafka.controller_port)
    assert again.start() == kafka.bootstrap

    assert not again.started_here
    assert read_pid_file(kafka.pid_file) == pid_before


def test_configured_servers_are_prepared_not_started(tmp_path: Path, infra: Infrastructure) -> None:
    contacts_dsn = infra.postgres_dsn_for("accounts_contacts")
    configured = start_infrastructure(
        tmp_path,
        postgres_port=free_port(),
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        databases=["accounts_contacts", "accounts_domains"],
        topics=[TopicSpec("launcher-test-configured.events", partitions=1)],
        environ={
            "DATABASE_URL": infra.postgres_server_dsn + "/postgres",
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
            "CONTACTS_DATABASE_URL": contacts_dsn,
        },
    )

    assert (configured.started_postgres, configured.started_kafka) == (None, None)
    assert configured.postgres_dsn_for("accounts_contacts") == contacts_dsn
    assert configured.postgres_dsn_for("accounts_domains").endswith("/accounts_domains")
    assert configured.environment()["CONTACTS_DATABASE_URL"] == contacts_dsn
    assert not (tmp_path / "postgres").exists()
    assert not (tmp_path / "kafka").exists()
    ensure_databases(infra.postgres_server_dsn, ["accounts_domains"])  # created above: a no-op


# --- gateway ----------------------------------------------------------------------------------


async def _upstream(name: str) -> asyncio.Server:
    """A one-line HTTP server answering '<name> <path> <x-request-id>'."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        path = head.split(" ", 2)[1]
        headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        request_id = {key.lower(): value for key, value in headers.items()}.get("x-request-id", "-")
        body = f"{name} {path} {request_id}".encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[CaddyGateway]:
    contacts, billing = await _upstream("contacts"), await _upstream("billing")
    routes = {
        "contacts": contacts.sockets[0].getsockname()[1],
        "billing": billing.sockets[0].getsockname()[1],
        "domains": free_port(),  # nothing listens: a service that is down
    }
    gateway = CaddyGateway(tmp_path, free_port(), routes)
    gateway.validate()
    gateway.start()
    yield gateway
    gateway.stop()
    for server in (contacts, billing):
        server.close()
        await server.wait_closed()


async def test_gateway_routes_by_path_and_keeps_request_ids(gateway: CaddyGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        contacts = await client.get("/api/contacts/customers/C-1/contacts?scope=dns")
        billing = await client.get("/api/billing/invoice-address", headers={"X-Request-ID": "req-42"})

    service, path, request_id = contacts.text.split(" ")
    assert (service, path) == ("contacts", "/api/contacts/customers/C-1/contacts?scope=dns")
    assert uuid.UUID(request_id)  # generated by the gateway
    assert billing.text == "billing /api/billing/invoice-address req-42"


async def test_gateway_answers_unknown_paths_with_a_problem(gateway: CaddyGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get("/api/unknown/thing", headers={"Host": "localhost"})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.text == NOT_FOUND_BODY
    assert response.json()["status"] == 404


async def test_gateway_answers_for_a_service_that_is_down_with_a_problem(gateway: CaddyGateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        response = await client.get("/api/domains/v1/customers/1234/domains", headers={"X-Request-ID": "req-down"})

    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "req-down"
    assert response.json() == {
        "type": "about:blank",
        "title": "Bad Gateway",
        "status": 502,
        "detail": "The gateway got no answer from the service behind this path.",
    }


def test_gateway_start_reuses_a_running_caddy(tmp_path: Path, gateway: CaddyGateway) -> None:
    pid_before = read_pid_file(gateway.pid_file)

    again = CaddyGateway(tmp_path, gateway.port, gateway.routes)
    again.start()

    assert not again.started_here
    assert read_pid_file(gateway.pid_file) == pid_before


# --- SMTP sink --------------------------------------------------------------------------------


async def test_the_mail_sink_process_stores_what_the_services_send(infra: Infrastructure) -> None:
    assert infra.smtp is not None
    host, port = infra.smtp
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "portal@hosting.example", "a@example.com", "Hello"
    message.set_content("stored as .eml")

    await aiosmtplib.send(message, hostname=host, port=port)

    mail_dir = infra.state_dir / "mail"
    await _eventually(lambda: any(mail_dir.glob("*.eml")), what=f"an .eml file in {mail_dir}")


async def _eventually(condition: Callable[[], bool], *, what: str, timeout: float = 5.0) -> None:
    # The sink runs in another process: there is nothing to await but the file system.
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {what} within {timeout} s")


async def test_smtp_sink_keeps_what_was_sent(tmp_path: Path) -> None:
    sink = SmtpSink(tmp_path / "mail")
    port = sink.start()
    try:
        message = EmailMessage()
        message["From"] = "portal@hosting.example"
        message["To"] = "customer@example.com"
        message["Subject"] = "Your one-time password"
        message.set_content("Use it within 15 minutes.")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port)

        received = await sink.wait_for(lambda m: m["To"] == "customer@example.com", timeout=5)
    finally:
        sink.stop()

    assert received["Subject"] == "Your one-time password"
    assert received["X-Envelope-To"] == "customer@example.com"
    (stored,) = (tmp_path / "mail").glob("*.eml")
    assert b"Use it within 15 minutes." in stored.read_bytes()
