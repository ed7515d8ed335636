"""From the verified caller to the authority a change is made on, and the versions clients send.

The account owner changes its own data. Staff (support, admin) change it only on behalf of a
named requester, decided on billing's copy of the authorizations (see `domain/authority.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from services.billing import handlers
from services.billing.api.schemas import AuthorizationVersionOut, DecisionOut, Edit, ReasonOut
from services.billing.authorization import AuthorizationCopy
from services.billing.domain.authority import (
    Authority,
    OnBehalfOf,
    Operation,
    SupportRequest,
    account_owner,
    owners_written_instruction,
    reasons_as_dicts,
)
from shared.auth.dependencies import ensure_customer_access
from shared.auth.principal import Principal, Role
from shared.authorization.freshness import ensure_copy_current
from shared.authorization.identifiers import InvalidIdentifier, Requester
from shared.customers import ensure_known_customer
from shared.envelope import EventContext
from shared.errors import InvalidRequest
from shared.http.context import event_context, runtime_of

READERS = (Role.SUPPORT, Role.ADMIN, Role.COMPLIANCE)
WRITERS = (Role.SUPPORT, Role.ADMIN)


async def ensure_readable(request: Request, principal: Principal, customer_number: str) -> None:
    ensure_customer_access(principal, customer_number, *READERS)
    await ensure_known_customer(runtime_of(request).pool, customer_number)


async def authority_for(
    request: Request, principal: Principal, customer_number: str, body: Edit, operation: Operation
) -> Authority:
    """Who asks, and why that is enough; a refused support request is recorded and raised (403)."""
    ensure_customer_access(principal, customer_number, *WRITERS)
    rt = runtime_of(request)
    await ensure_known_customer(rt.pool, customer_number)
    if principal.is_customer(customer_number):
        if body.on_behalf_of is not None or body.written_instruction is not None:
            raise InvalidRequest("on_behalf_of and written_instruction are for support acting at someone's request")
        return account_owner(customer_number)
    if body.written_instruction is not None:
        if body.on_behalf_of is not None:
            raise InvalidRequest("give on_behalf_of or written_instruction, not both")
        if not (reference := body.written_instruction.strip()):
            raise InvalidRequest("written_instruction: give the reference of the owner's document")
        return owners_written_instruction(customer_number, reference, body.ticket_reference)
    if body.on_behalf_of is None:
        raise InvalidRequest(
            "support changes billing data on behalf of the person who asked: give on_behalf_of"
            " (contact_id, or email / phone as heard), or the account owner's written_instruction"
        )
    kind, raw = body.on_behalf_of.as_heard()
    try:
        requester = Requester.heard(kind, raw)
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"on_behalf_of: {exc}") from None
    ensure_copy_current(rt)
    support = SupportRequest(str(principal.actor), OnBehalfOf(requester, raw), operation, body.ticket_reference)
    copy: AuthorizationCopy = rt.extras["authorization_copy"]

    def context_for(metadata: Mapping[str, Any]) -> EventContext:
        return event_context(request, customer_number, principal.actor, **metadata)

    return await handlers.support_authority(copy, rt.uow, customer_number, support, rt.clock.now(), context_for)


def decision_out(authority: Authority) -> DecisionOut:
    out = DecisionOut(
        basis=authority.basis.value,
        requested_by=authority.requested_by,
        on_behalf_of=authority.metadata.get("on_behalf_of"),
        document_reference=authority.metadata.get("document_reference"),
    )
    if (decision := authority.decision) is not None:
        out.outcome = decision.outcome.value
        out.contact_id = decision.contact_id
        out.grant_id = decision.grant_id
        out.reasons = [ReasonOut.model_validate(r) for r in reasons_as_dicts(decision)]
        out.decided_at = decision.at
    if (version := authority.version) is not None:
        out.authorization_version = AuthorizationVersionOut(
            stream_id=version.stream_id, stream_version=version.stream_version, occurred_at=version.occurred_at
        )
    return out
