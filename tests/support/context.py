"""Envelope contexts for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.envelope import Actor, ActorKind, EventContext


def context(customer_number: str = "100001", **metadata: object) -> EventContext:
    return EventContext(
        customer_number=customer_number,
        actor=Actor(ActorKind.STAFF, "tester"),
        occurred_at=datetime(2026, 11, 27, 12, 0, tzinfo=UTC),
        correlation_id=uuid.uuid4(),
        metadata=dict(metadata),
    )
