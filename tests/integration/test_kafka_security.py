"""The Kafka clients against a broker that authenticates and authorizes, as a real cluster does.

A second embedded broker with a SASL_SSL listener (SCRAM-SHA-512 users, a certificate of its own
test CA) and Kafka's ACL authorizer. The clients are the system's own (`shared.kafka`), configured
only through the environment (`shared.kafka_security`): contacts may publish its events, billing
may read them but not forge one, and a wrong password, a plain-text client or an unknown CA gets
nothing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError
from aiokafka.protocol.admin import CreateAclsRequest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared import cloudevents
from shared.audit.replay import replay
from shared.envelope import Actor, ActorKind, RecordedEvent
from shared.infra.kafka import BrokerSecurity, EmbeddedKafka, TopicSpec, ensure_topics
from shared.infra.processes import free_port
from shared.kafka import idempotent_producer, manual_commit_consumer
from shared.kafka_security import client_options
from tests.support.kafka import first_event, publish

pytestmark = pytest.mark.integration

TOPIC = "contacts.events"
GROUP = "billing.authorization"
# Kafka's protocol codes (ResourceType, PatternType, AclOperation, AclPermissionType).
TOPIC_RESOURCE, GROUP_RESOURCE, CLUSTER_RESOURCE, LITERAL = 2, 3, 4, 3
READ, WRITE, DESCRIBE, IDEMPOTENT_WRITE, ALLOW = 3, 4, 8, 12, 3


@dataclass
class SecureKafka:
    bootstrap: str
    ca_file: Path
    passwords: dict[str, str]

    def environment(self, user: str, password: str | None = None) -> dict[str, str]:
        return {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_USERNAME": user,
            "KAFKA_SASL_PASSWORD": password if password is not None else self.passwords[user],
            "KAFKA_SSL_CA_FILE": str(self.ca_file),
        }


def _certificates(directory: Path) -> tuple[Path, str]:
    """A test CA (its certificate written to a file) and the broker's key and chain (PEM)."""
    now = dt.datetime.now(dt.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("accounts test CA"))
        .issuer_name(name("accounts test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    broker = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    keystore = (
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + broker.public_bytes(serialization.Encoding.PEM)
        + ca.public_bytes(serialization.Encoding.PEM)
    ).decode()
    return ca_file, keystore


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    directory = tmp_path_factory.mktemp("secure-kafka")
    ca_file, keystore = _certificates(directory)
    passwords = {user: secrets.token_urlsafe(16) for user in ("admin", "contacts", "billing", "compliance")}
    broker = EmbeddedKafka(
        directory,
        free_port(),
        free_port(),
        security=BrokerSecurity(keystore_pem=keystore, truststore_pem=ca_file.read_text(), users=passwords),
    )
    secure = SecureKafka(broker.bootstrap, ca_file, passwords)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in secure.environment("admin").items():
            patch.setenv(key, value)  # the broker's readiness check and the set-up below: as admin
        broker.start()
        try:
            yield secure
        finally:
            broker.stop()


async def _allow(bootstrap: str, principal: str, resource: tuple[int, str], *operations: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        for operation in operations:
            kind, name = resource
            response = await admin._send_request(
                CreateAclsRequest(kind, name, LITERAL, f"User:{principal}", "*", operation, ALLOW)
            )
            assert all(result[0] == 0 for result in response.creation_responses), response
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def authorized(secure_kafka: SecureKafka) -> SecureKafka:
    """The topic, and ACLs as Strimzi's KafkaUsers would state them (deploy/k8s/base/platform)."""
    await ensure_topics(secure_kafka.bootstrap, [TopicSpec(TOPIC, partitions=1)])
    await _allow(secure_kafka.bootstrap, "contacts", (TOPIC_RESOURCE, TOPIC), WRITE, DESCRIBE)
    # The relay's producer is idempotent (ordered, no duplicates on retries).
    await _allow(secure_kafka.bootstrap, "contacts", (CLUSTER_RESOURCE, "kafka-cluster"), IDEMPOTENT_WRITE)
    await _allow(secure_kafka.bootstrap, "billing", (CLUSTER_RESOURCE, "kafka-cluster"), IDEMPOTENT_WRITE)
    await _allow(secure_kafka.bootstrap, "billing", (TOPIC_RESOURCE, TOPIC), READ, DESCRIBE)
    await _allow(secure_kafka.bootstrap, "billing", (GROUP_RESOURCE, GROUP), READ)
    await _allow(secure_kafka.bootstrap, "compliance", (TOPIC_RESOURCE, TOPIC), READ, DESCRIBE)
    return secure_kafka


def _contact_added(customer: str) -> RecordedEvent:
    data = {"contact_id": str(uuid.uuid4()), "name": "Ada", "email": "ada@example.org"}
    return first_event(
        "ContactAdded", f"customer-contacts-{customer}", customer, data, Actor(ActorKind.CUSTOMER, customer)
    )


def _as(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> None:
    for key in ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CA_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)


async def test_a_service_publishes_and_another_reads_with_their_own_credentials(
    authorized: SecureKafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, authorized.environment("contacts"))
    event = _contact_added("100001")
    await publish(authorized.bootstrap, "contacts", event)
    value = cloudevents.to_kafka("contacts", event).value

    _as(monkeypatch, authorized.environment("billing"))
    consumer = manual_commit_consumer(authorized.bootstrap, GROUP, TOPIC)
    await consumer.start()
    try:
        seen: list[bytes] = []
        while value not in seen:
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, "billing read nothing"
            seen += [record.value for records in batch.values() for record in records if record.value]
        await consumer.commit()  # its group's offsets: the group ACL
    finally:
        await consumer.stop()


async def test_compliance_replays_with_a_user_that_may_only_read(
    authorized: SecureKafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, authorized.environment("contacts"))
    await publish(authorized.bootstrap, "contacts", _contact_added("100002"))

    _as(monkeypatch, authorized.environment("compliance"))
    model, report = await replay(authorized.bootstrap, [TOPIC])
    assert report.records >= 1
    assert model.stats.malformed == []
    assert "100002" in model.customer_numbers
    assert model.type_counts()[("contacts", "ContactAdded")] == report.records


async def test_a_service_cannot_publish_on_anothers_topic(
    authorized: SecureKafka, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as(monkeypatch, authorized.environment("billing"))
    producer = idempotent_producer(authorized.bootstrap, "forger")
    await producer.start()  # it may connect (billing is a user of the cluster) ...
    try:
        with pytest.raises(TopicAuthorizationFailedError):  # ... but not write contacts' topic
            await producer.send_and_wait(TOPIC, b'{"forged": true}', key=b"100001")
    finally:
        await producer.stop()


@pytest.mark.parametrize("how", ["as configured", "wrong password", "plain text", "unknown CA"])
async def test_no_way_in_without_the_credentials_and_the_ca(
    authorized: SecureKafka, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, how: str
) -> None:
    """Each refusal differs from the working configuration (the control) in one setting only."""
    environment = authorized.environment("contacts")
    if how == "wrong password":
        environment["KAFKA_SASL_PASSWORD"] = "not-" + authorized.passwords["contacts"]
    elif how == "plain text":
        environment = {}
    elif how == "unknown CA":
        other_ca, _ = _certificates(tmp_path)
        environment["KAFKA_SSL_CA_FILE"] = str(other_ca)
    _as(monkeypatch, environment)
    try:
        await publish(authorized.bootstrap, "contacts", _contact_added("100003"))
        assert how == "as configured", f"{how}: got in"
    except KafkaConnectionError:  # the bootstrap never completes: no metadata, no topic names
        assert how != "as configured"
