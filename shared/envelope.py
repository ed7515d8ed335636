"""The event envelope: what every event carries besides its own data.

A service's domain produces plain frozen dataclasses (subclasses of `DomainEvent`). When they are
appended, the store wraps each in a `RecordedEvent` with the envelope fields that DESIGN.md asks
for: event id, type, schema version, stream id and version, customer number, occurred-at, the
actor, correlation and causation ids. The same envelope travels on Kafka as CloudEvents
attributes (`shared.cloudevents`), so a consumer in another service rebuilds an identical
`RecordedEvent` from a Kafka record.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar


class ActorKind(StrEnum):
    CUSTOMER = "customer"
    CONTACT = "contact"
    STAFF = "staff"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused an event: a customer, one of its contacts, a staff member or the system."""

    kind: ActorKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Actor:
        kind, _, ident = text.partition(":")
        return cls(ActorKind(kind), ident)


class DomainEvent:
    """Base of every domain event class. Subclasses are frozen dataclasses.

    `event_type` is the past-tense name (`ContactAdded`); `schema_version` counts breaking
    changes of the data shape. Both are set by `EventRegistry.register`.
    """

    event_type: ClassVar[str]
    schema_version: ClassVar[int]


@dataclass(frozen=True, slots=True)
class EventContext:
    """The envelope fields a command hands down to every event it causes."""

    customer_number: str
    actor: Actor
    occurred_at: datetime
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None = None
    # Free-form facts about *how* the decision was taken (request id, the grant relied on, ...).
    # Never secrets: metadata is published like the data.
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored and published: envelope plus data at its stored schema version."""

    event_id: uuid.UUID
    event_type: str
    schema_version: int
    stream_id: str
    stream_version: int
    customer_number: str
    occurred_at: datetime
    actor: Actor
    correlation_id: uuid.UUID
    causation_id: uuid.UUID | None
    data: Mapping[str, Any]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # The store's insertion counter; informative only (it is not commit order).
    position: int = 0
    # SHA-256 chain link (shared/eventstore/chain.py); empty for events read from Kafka.
    chain_hash: bytes = b""

    @property
    def qualified_type(self) -> str:
        """`ContactAdded.v1`: the type name with its schema version, as used on the wire."""
        return f"{self.event_type}.v{self.schema_version}"
