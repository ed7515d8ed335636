"""Decoding Kafka records (CloudEvents binary mode) into audit events, without pydantic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared import cloudevents
from shared.audit.events import AuditEvent, RecordDecoder
from shared.cloudevents import MalformedCloudEvent
from shared.envelope import Actor, ActorKind, RecordedEvent


def recorded(**changes: object) -> RecordedEvent:
    values: dict[str, object] = {
        "event_id": uuid.uuid4(),
        "event_type": "MailboxCreated",
        "schema_version": 2,
        "stream_id": "domain-x.de",
        "stream_version": 7,
        "customer_number": "100001",
        "occurred_at": datetime(2026, 3, 3, 12, 0, 0, 5, tzinfo=UTC),
        "actor": Actor(ActorKind.STAFF, "sam"),
        "correlation_id": uuid.uuid4(),
        "causation_id": uuid.uuid4(),
        "data": {"address": "m@x.de", "n": 1},
        "metadata": {"grant_id": "g", "reasons": ["granted"]},
    }
    values.update(changes)
    return RecordedEvent(**values)  # type: ignore[arg-type]


def test_a_record_decodes_to_the_same_facts_as_the_kernel_reads() -> None:
    event = recorded()
    record = cloudevents.to_kafka("domains", event)
    decoded = RecordDecoder().decode("domains.events", 2, 41, record.value, record.headers)
    assert decoded.to_recorded() == cloudevents.from_kafka(record.value, record.headers)
    assert (decoded.service, decoded.provenance) == ("domains", "domains.events/2@41")
    again = AuditEvent.from_recorded("domains", event)
    assert (again.event_id, again.data, again.metadata, again.occurred_at) == (
        decoded.event_id,
        decoded.data,
        decoded.metadata,
        decoded.occurred_at,
    )


def test_no_metadata_and_no_causation() -> None:
    record = cloudevents.to_kafka("contacts", recorded(metadata={}, causation_id=None))
    decoded = RecordDecoder().decode("t", 0, 0, record.value, record.headers)
    assert decoded.metadata == {}
    assert decoded.causation_id is None


@pytest.mark.parametrize("drop", ["ce_id", "ce_type", "ce_time", "ce_streamversion", "ce_specversion"])
def test_records_that_are_not_our_cloudevents_are_refused(drop: str) -> None:
    record = cloudevents.to_kafka("contacts", recorded())
    headers = [(k, v) for k, v in record.headers if k != drop]
    with pytest.raises(MalformedCloudEvent):
        RecordDecoder().decode("t", 0, 0, record.value, headers)


def test_a_broken_type_or_time_is_refused() -> None:
    record = cloudevents.to_kafka("contacts", recorded())
    for key, value in (("ce_type", b"nonsense"), ("ce_time", b"yesterday"), ("ce_streamversion", b"x")):
        headers = [(k, value if k == key else v) for k, v in record.headers]
        with pytest.raises(MalformedCloudEvent):
            RecordDecoder().decode("t", 0, 0, record.value, headers)
