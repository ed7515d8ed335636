"""The AsyncAPI document: valid, current, complete, and guarding the event classes' evolution."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shared import cloudevents
from shared.contracts import asyncapi
from shared.contracts.catalogue import PublishedTopic, published_topics
from shared.envelope import Actor, ActorKind, DomainEvent, RecordedEvent
from shared.kafka import SERVICES, topic_for
from shared.registry import EventRegistry

ROOT = Path(__file__).resolve().parents[2]
# The official JSON Schema of AsyncAPI 3.0.0, from the npm package @asyncapi/specs 6.11.1
# (schemas/3.0.0-without-$id.json, minified). Copyright 2016-2025 AsyncAPI Initiative, Apache-2.0.
ASYNCAPI_SCHEMA = Path(__file__).with_name("asyncapi-3.0.0.schema.json")


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    document = asyncapi.load(asyncapi.DEFAULT_PATH)
    assert document is not None, "docs/asyncapi.yaml is missing: run python -m shared.contracts asyncapi"
    return document


@pytest.fixture(scope="module")
def topics() -> list[PublishedTopic]:
    return published_topics()


def test_the_committed_document_is_what_the_event_classes_generate(
    committed: dict[str, Any], topics: list[PublishedTopic]
) -> None:
    fresh = asyncapi.render(asyncapi.build(topics, committed))
    assert asyncapi.DEFAULT_PATH.read_text(encoding="utf-8") == fresh, (
        "docs/asyncapi.yaml is out of date: run python -m shared.contracts asyncapi and commit it"
    )


def test_no_event_class_changed_in_a_way_that_breaks_consumers(
    committed: dict[str, Any], topics: list[PublishedTopic]
) -> None:
    assert asyncapi.evolution_problems(committed, topics) == []


def test_the_document_is_valid_asyncapi_3(committed: dict[str, Any]) -> None:
    schema = json.loads(ASYNCAPI_SCHEMA.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(committed), key=lambda e: list(e.path))
    assert [f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors] == []


def test_every_topic_and_every_registered_event_version_has_a_message(
    committed: dict[str, Any], topics: list[PublishedTopic]
) -> None:
    assert {t.topic for t in topics} >= {topic_for(s) for s in SERVICES}
    for topic in topics:
        channel = committed["channels"][topic.topic]
        assert channel["address"] == topic.topic
        for cls in topic.registry.classes:
            key = f"{cls.event_type}.v{cls.schema_version}"
            mid = asyncapi.message_id(topic.service, cls.event_type, cls.schema_version)
            assert channel["messages"][key] == {"$ref": f"#/components/messages/{mid}"}
            headers, payload = asyncapi.message_schemas(committed, mid)
            jsonschema.Draft7Validator.check_schema(payload)
            assert payload["type"] == "object"
            assert headers["allOf"][1]["properties"]["ce_type"]["const"].endswith(key)


def _recorded(**changes: Any) -> RecordedEvent:
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "event_type": "ContactAdded",
        "schema_version": 1,
        "stream_id": "customer-contacts-100001",
        "stream_version": 3,
        "customer_number": "100001",
        "occurred_at": datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        "actor": Actor(ActorKind.CUSTOMER, "100001"),
        "correlation_id": uuid.uuid4(),
        "causation_id": None,
        "data": {},
        "metadata": {},
    }
    return RecordedEvent(**{**fields, **changes})


def test_the_documented_headers_are_exactly_those_the_relay_sends(committed: dict[str, Any]) -> None:
    documented = committed["components"]["schemas"][asyncapi.HEADERS_SCHEMA]
    validator = jsonschema.Draft7Validator(documented, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    bare = cloudevents.to_kafka("contacts", _recorded())
    full = cloudevents.to_kafka("contacts", _recorded(causation_id=uuid.uuid4(), metadata={"basis": "x"}))
    for record in (bare, full):
        headers = {name: value.decode() for name, value in record.headers}
        assert set(headers) <= set(documented["properties"])
        assert set(documented["required"]) <= set(headers)
        validator.validate(headers)
    assert {name for name, _ in full.headers} == set(documented["properties"])


def test_topic_settings_match_the_deployed_kafka_topics() -> None:
    deployed = list(yaml.safe_load_all((ROOT / "deploy/k8s/base/platform/topics.yaml").read_text(encoding="utf-8")))
    for topic in deployed:
        spec = topic["spec"]
        partitions = 1 if spec["topicName"].endswith(".checkpoints") else asyncapi.TOPIC_PARTITIONS
        assert (spec["partitions"], spec["replicas"]) == (partitions, asyncapi.TOPIC_REPLICAS)
        assert spec["config"]["retention.ms"] == asyncapi.TOPIC_CONFIGURATION["retention.ms"]
        assert [spec["config"]["cleanup.policy"]] == asyncapi.TOPIC_CONFIGURATION["cleanup.policy"]


# --- the evolution rules, on a synthetic service --------------------------------------------------


def _service(
    *classes: tuple[str, int, type[DomainEvent]], upcasters: tuple[tuple[str, int], ...] = ()
) -> PublishedTopic:
    registry = EventRegistry()
    for name, version, cls in classes:
        registry.register(name, version=version)(cls)
    for name, version in upcasters:
        registry.upcaster(name, version)(lambda data: data)
    return PublishedTopic("shop", "shop.events", registry)


def _v1() -> type[DomainEvent]:
    @dataclass(frozen=True)
    class OrderPlaced(DomainEvent):
        order_id: uuid.UUID
        total_cents: int
        note: str | None = None

    return OrderPlaced


def _retyped() -> type[DomainEvent]:
    @dataclass(frozen=True)
    class OrderPlaced(DomainEvent):
        order_id: uuid.UUID
        total_cents: str  # was int
        note: str | None = None

    return OrderPlaced


def _grown() -> type[DomainEvent]:
    @dataclass(frozen=True)
    class OrderPlaced(DomainEvent):
        order_id: uuid.UUID
        total_cents: int
        note: str | None = None
        currency: str = "EUR"

    return OrderPlaced


def test_a_breaking_change_needs_a_new_version_and_an_upcaster() -> None:
    baseline = asyncapi.build([_service(("OrderPlaced", 1, _v1()))])

    assert asyncapi.evolution_problems(baseline, [_service(("OrderPlaced", 1, _grown()))]) == []
    [problem] = asyncapi.evolution_problems(baseline, [_service(("OrderPlaced", 1, _retyped()))])
    assert problem.startswith("shop.OrderPlaced.v1 $.total_cents: type changed from integer to string")
    assert "new schema version (v2)" in problem

    [missing] = asyncapi.evolution_problems(baseline, [_service(("OrderPlaced", 2, _retyped()))])
    assert missing == "shop.OrderPlaced.v1: no upcaster from v1 to v2 of OrderPlaced"
    bumped = _service(("OrderPlaced", 2, _retyped()), upcasters=(("OrderPlaced", 1),))
    assert asyncapi.evolution_problems(baseline, [bumped]) == []

    @dataclass(frozen=True)
    class Other(DomainEvent):
        x: int

    [removed] = asyncapi.evolution_problems(baseline, [_service(("Other", 1, Other))])
    assert "event type removed" in removed


def test_a_superseded_version_stays_documented() -> None:
    baseline = asyncapi.build([_service(("OrderPlaced", 1, _v1()))])
    bumped = _service(("OrderPlaced", 2, _retyped()), upcasters=(("OrderPlaced", 1),))
    document = asyncapi.build([bumped], baseline)
    assert list(document["channels"]["shop.events"]["messages"]) == ["OrderPlaced.v1", "OrderPlaced.v2"]
    old = document["components"]["messages"]["shop.OrderPlaced.v1"]
    assert old["description"].startswith("Superseded by v2")
    assert (
        document["components"]["schemas"]["shop.OrderPlaced.v1"]
        == baseline["components"]["schemas"]["shop.OrderPlaced.v1"]
    )
    # and generating again from that document changes nothing
    assert asyncapi.build([bumped], document) == document


def test_checkpoint_messages_are_exactly_as_documented(committed: dict[str, Any]) -> None:
    from shared.audit import checkpoints as audit

    checkpoint = audit.Checkpoint(
        service="contacts",
        checkpoint_id=str(uuid.uuid4()),
        sequence=7,
        taken_at=datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        snapshot="900:905:901,903",
        previous_snapshot="800:800:",
        event_count=1200,
        stream_count=40,
        digest="ab" * 32,
        heads=[("customer-contacts-100001", 12, b"\x01" * 32), ("customer-address-100001", 2, b"\x02" * 32)],
    )
    mid = "contacts.checkpoints.CheckpointPublished.v1"
    assert committed["channels"]["contacts.checkpoints"]["messages"]["CheckpointPublished.v1"] == {
        "$ref": f"#/components/messages/{mid}"
    }
    headers_schema, payload_schema = asyncapi.message_schemas(committed, mid)
    strict = {**payload_schema, "additionalProperties": False}  # every field the publisher sends is documented
    checker = jsonschema.Draft7Validator.FORMAT_CHECKER
    for part, message in enumerate(checkpoint.messages(parts_of=1), start=1):
        jsonschema.Draft7Validator(strict, format_checker=checker).validate(json.loads(json.dumps(message)))
        headers = {name: value.decode() for name, value in audit._headers("contacts", checkpoint, part)}
        assert set(headers) == set(headers_schema["allOf"][0]["properties"])
        jsonschema.Draft7Validator(headers_schema, format_checker=checker).validate(headers)
