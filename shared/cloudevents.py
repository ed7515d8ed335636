"""Events on Kafka as CloudEvents 1.0 in binary content mode (the Kafka protocol binding).

The record key is the customer number (so one customer's events stay in order on one
partition); the value is the event's data as JSON; every envelope field travels as a `ce_`
header. Other teams need nothing but this module's documentation (and the AsyncAPI document)
to consume our topics:

    ce_specversion     "1.0"
    ce_id              event id (UUID); a re-published event keeps its id
    ce_source          "/accounts/<service>"
    ce_type            "hosting.accounts.<service>.<EventType>.v<schema version>"
    ce_time            occurred-at, RFC 3339
    ce_subject         stream id
    content-type       "application/json"
    ce_schemaversion   schema version of the data
    ce_streamid        stream id (same as subject, as its own attribute for filtering)
    ce_streamversion   version of the event in its stream (1, 2, ...)
    ce_customernumber  the customer the event belongs to (also the key)
    ce_actorkind       customer | contact | staff | system
    ce_actorid         id of the actor within its kind
    ce_correlationid   correlation id (UUID) of the request that led to the event
    ce_causationid     id of the event or command that caused it (absent when none)
    ce_metadata        JSON object: how the decision was taken (never secrets)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from shared.envelope import Actor, ActorKind, RecordedEvent

SPEC_VERSION = "1.0"
TYPE_PREFIX = "hosting.accounts"


class MalformedCloudEvent(ValueError):
    """A Kafka record that is not one of our CloudEvents."""


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def source_for(service: str) -> str:
    return f"/accounts/{service}"


def type_for(service: str, event: RecordedEvent) -> str:
    return f"{TYPE_PREFIX}.{service}.{event.event_type}.v{event.schema_version}"


def to_kafka(service: str, event: RecordedEvent) -> KafkaRecord:
    headers: list[tuple[str, bytes]] = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", str(event.event_id).encode()),
        ("ce_source", source_for(service).encode()),
        ("ce_type", type_for(service, event).encode()),
        ("ce_time", event.occurred_at.isoformat().encode()),
        ("ce_subject", event.stream_id.encode()),
        ("content-type", b"application/json"),
        ("ce_schemaversion", str(event.schema_version).encode()),
        ("ce_streamid", event.stream_id.encode()),
        ("ce_streamversion", str(event.stream_version).encode()),
        ("ce_customernumber", event.customer_number.encode()),
        ("ce_actorkind", event.actor.kind.value.encode()),
        ("ce_actorid", event.actor.id.encode()),
        ("ce_correlationid", str(event.correlation_id).encode()),
    ]
    if event.causation_id is not None:
        headers.append(("ce_causationid", str(event.causation_id).encode()))
    if event.metadata:
        headers.append(("ce_metadata", orjson.dumps(event.metadata)))
    return KafkaRecord(event.customer_number.encode(), orjson.dumps(event.data), headers)


def from_kafka(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> RecordedEvent:
    h: Mapping[str, bytes] = dict(headers)
    try:
        if h["ce_specversion"].decode() != SPEC_VERSION:
            raise MalformedCloudEvent("unsupported CloudEvents spec version")
        ce_type = h["ce_type"].decode()
        event_type = ce_type.rsplit(".", 2)[-2]
        causation = h.get("ce_causationid")
        metadata = orjson.loads(h["ce_metadata"]) if "ce_metadata" in h else {}
        return RecordedEvent(
            event_id=uuid.UUID(h["ce_id"].decode()),
            event_type=event_type,
            schema_version=int(h["ce_schemaversion"]),
            stream_id=h["ce_streamid"].decode(),
            stream_version=int(h["ce_streamversion"]),
            customer_number=h["ce_customernumber"].decode(),
            occurred_at=datetime.fromisoformat(h["ce_time"].decode()),
            actor=Actor(ActorKind(h["ce_actorkind"].decode()), h["ce_actorid"].decode()),
            correlation_id=uuid.UUID(h["ce_correlationid"].decode()),
            causation_id=uuid.UUID(causation.decode()) if causation else None,
            data=orjson.loads(value or b"null"),
            metadata=metadata,
        )
    except (KeyError, ValueError, IndexError, orjson.JSONDecodeError) as exc:
        raise MalformedCloudEvent(str(exc)) from None
