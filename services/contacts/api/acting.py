"""From the verified caller to who acts (see domain/acting.py), and the envelope for its events."""

from __future__ import annotations

import uuid

from fastapi import Request

from services.contacts.domain.acting import Acting
from shared.auth.dependencies import ensure_customer_access
from shared.auth.principal import Principal, Role
from shared.envelope import EventContext
from shared.errors import InvalidRequest
from shared.http.context import event_context

READERS = (Role.SUPPORT, Role.ADMIN, Role.COMPLIANCE)
WRITERS = (Role.SUPPORT, Role.ADMIN)


def acting_for(principal: Principal, customer_number: str, on_behalf_of: uuid.UUID | None) -> Acting:
    """The account owner, support on a written instruction, or a contact via support."""
    ensure_customer_access(principal, customer_number, *WRITERS)
    if principal.is_customer(customer_number):
        if on_behalf_of is not None:
            raise InvalidRequest("on_behalf_of is for support acting at a contact's request")
        return Acting.account_owner(customer_number)
    if on_behalf_of is not None:
        return Acting.contact(on_behalf_of)
    return Acting.support(principal.subject)


def context_for(request: Request, customer_number: str, principal: Principal, acting: Acting) -> EventContext:
    # Metadata says how the decision was taken; the data names the decider.
    metadata: dict[str, str] = {"acting": acting.kind.value, "basis": acting.basis.value}
    if acting.contact_id is not None:
        metadata["on_behalf_of"] = str(acting.contact_id)
    return event_context(request, customer_number, principal.actor, **metadata)
