"""From the verified caller to who acts (see domain/acting.py), and the envelope for its events."""

from __future__ import annotations

import uuid

from fastapi import Request

from services.contacts.domain.acting import Acting
from shared.auth.dependencies import CurrentPrincipal, ensure_customer_access
from shared.auth.principal import Principal, PrincipalKind, Role
from shared.customers import KnownCustomers
from shared.envelope import EventContext
from shared.errors import InvalidRequest
from shared.http.context import event_context, runtime_of
from shared.http.fast_path import is_customer_number

READERS = (Role.SUPPORT, Role.ADMIN, Role.COMPLIANCE)
WRITERS = (Role.SUPPORT, Role.ADMIN)


async def known_customer(request: Request, principal: CurrentPrincipal) -> None:
    """Staff naming a customer number no account was opened for get 404, as from billing and
    domains: a mistyped number must not answer "best knowledge" nor take contacts. (A customer's
    own token names an account identity opened, which may not have reached this copy yet.)"""
    number = request.path_params.get("customer_number")
    if principal.kind is not PrincipalKind.STAFF or not isinstance(number, str) or not is_customer_number(number):
        return  # (a malformed number is the route's 422)
    runtime = runtime_of(request)
    known: KnownCustomers = runtime.extras["known_customers"]
    await known.ensure(runtime.pool, number)


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
