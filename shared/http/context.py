"""Per-request helpers: the runtime, and the envelope context a command hands to its events."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Request

from shared.envelope import Actor, EventContext

# The provider's customer numbers: digits only. Validated at the edge of every service.
CustomerNumber = Annotated[
    str, Path(pattern=r"^[0-9]{4,12}$", description="The customer number (digits)", examples=["100001"])
]


def runtime_of(request: Request) -> Any:
    return request.app.state.runtime


def event_context(request: Request, customer_number: str, actor: Actor, **metadata: Any) -> EventContext:
    runtime = runtime_of(request)
    state = request.scope.get("state", {})
    return EventContext(
        customer_number=customer_number,
        actor=actor,
        occurred_at=runtime.clock.now(),
        correlation_id=uuid.UUID(state.get("correlation_id") or str(uuid.uuid4())),
        metadata={"request_id": state.get("request_id"), **metadata},
    )
