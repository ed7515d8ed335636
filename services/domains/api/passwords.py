"""The mailbox owner's one-time link: choose the mailbox's password (no login; the token is the proof)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request, Response

from services.domains import credentials
from services.domains.api.problems import problems
from services.domains.api.schemas import MailboxPasswordBody
from services.domains.runtime import domains_runtime
from shared.envelope import Actor, ActorKind, EventContext

LINK_ACTOR = Actor(ActorKind.SYSTEM, "mailbox-password-link")


def router() -> APIRouter:
    r = APIRouter(prefix="/api/domains/v1", tags=["mailbox passwords"])

    @r.post(
        "/mailbox-passwords",
        status_code=204,
        responses={k: v for k, v in problems(400, 413).items() if k not in (401, 403, 404)},
        summary="Set a mailbox's password with the token from the e-mailed one-time link",
        description="Single use, until the link expires; one answer (422) for every invalid, used or expired"
        " link. Records MailboxPasswordSet (without the password).",
    )
    async def set_password(body: MailboxPasswordBody, request: Request) -> Response:
        state = request.scope.get("state", {})

        def context_for(customer_number: str, now: datetime) -> EventContext:
            return EventContext(
                customer_number=customer_number,
                actor=LINK_ACTOR,
                occurred_at=now,
                correlation_id=uuid.UUID(state.get("correlation_id") or str(uuid.uuid4())),
                metadata={"request_id": state.get("request_id"), "acting": "mailbox_owner", "via": "one_time_link"},
            )

        await credentials.set_mailbox_password(
            domains_runtime(request), body.token.get_secret_value(), body.password.get_secret_value(), context_for
        )
        return Response(status_code=204)

    return r
