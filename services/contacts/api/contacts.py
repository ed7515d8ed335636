"""Routes for contact persons: add, list and find, change, remove, record a departure."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from services.contacts import handlers, queries
from services.contacts.api.acting import READERS, acting_for, context_for, known_customer
from services.contacts.api.problems import READ, WRITE
from services.contacts.api.schemas import (
    Changed,
    ContactBody,
    ContactCreated,
    ContactId,
    ContactOut,
    ContactsOut,
    DepartureBody,
    DepartureRecorded,
)
from services.contacts.domain import contacts as domain
from services.contacts.domain.errors import UnknownContact
from shared.auth.dependencies import CurrentPrincipal, ensure_customer_access
from shared.authorization.identifiers import InvalidIdentifier, normalise_email, normalise_phone
from shared.errors import InvalidRequest
from shared.http.context import CustomerNumber, runtime_of
from shared.http.versions import tag_in


def _details(body: ContactBody) -> domain.ContactDetails:
    return domain.ContactDetails(
        body.name, str(body.email), body.phone, body.organisation, body.function, body.organisation_kind
    )


def router() -> APIRouter:
    r = APIRouter(prefix="/api/contacts/v1", tags=["contacts"], dependencies=[Depends(known_customer)])

    @r.post(
        "/customers/{customer_number}/contacts",
        status_code=201,
        response_model=ContactCreated,
        responses=WRITE,
        summary="Add a contact person to a customer",
    )
    async def add_contact(
        customer_number: CustomerNumber,
        body: ContactBody,
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
    ) -> ContactCreated:
        acting = acting_for(principal, customer_number, body.on_behalf_of)
        d = _details(body)
        cmd = domain.AddContact(
            customer_number, d.name, d.email, d.phone, d.organisation, d.function, d.organisation_kind
        )
        context = context_for(request, customer_number, principal, acting)
        contact_id, version = await handlers.add_contact(cmd, runtime_of(request).uow, context, uuid.uuid4(), acting)
        response.headers["Location"] = f"/api/contacts/v1/customers/{customer_number}/contacts/{contact_id}"
        return ContactCreated(contact_id=contact_id, version=version)

    @r.get(
        "/customers/{customer_number}/contacts",
        response_model=ContactsOut,
        responses=READ,
        summary="Current contact persons; find one by e-mail or phone as heard",
    )
    async def list_contacts(
        customer_number: CustomerNumber,
        request: Request,
        principal: CurrentPrincipal,
        email: Annotated[str | None, Query(max_length=320)] = None,
        phone: Annotated[str | None, Query(max_length=40)] = None,
    ) -> ContactsOut:
        ensure_customer_access(principal, customer_number, *READERS)
        try:
            wanted_email = normalise_email(email) if email else None
            wanted_phone = normalise_phone(phone) if phone else None
        except InvalidIdentifier as exc:
            raise InvalidRequest(str(exc)) from None
        rows = await queries.contacts_of(
            runtime_of(request).pool, customer_number, email=wanted_email, phone_e164=wanted_phone
        )
        return ContactsOut(customer_number=customer_number, contacts=[_contact_out(row) for row in rows])

    @r.get(
        "/customers/{customer_number}/contacts/{contact_id}",
        response_model=ContactOut,
        responses=READ,
        summary="One contact person (also a removed one)",
    )
    async def get_contact(
        customer_number: CustomerNumber,
        contact_id: ContactId,
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
    ) -> ContactOut:
        ensure_customer_access(principal, customer_number, *READERS)
        row = await handlers.contact_as_recorded(runtime_of(request).uow, customer_number, contact_id)
        if row is None:
            raise UnknownContact(f"no contact {contact_id} for this customer")
        contact = _contact_out(row)
        response.headers["ETag"] = contact.etag
        return contact

    @r.put(
        "/customers/{customer_number}/contacts/{contact_id}",
        response_model=Changed,
        responses=WRITE,
        summary="Change a contact person's details (all of them)",
        description="With If-Match (the ETag of the contact's GET, or its `etag`), a change someone else made"
        " after that read is answered 409 instead of being overwritten.",
    )
    async def change_contact(
        customer_number: CustomerNumber,
        contact_id: ContactId,
        body: ContactBody,
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Changed:
        acting = acting_for(principal, customer_number, body.on_behalf_of)
        context = context_for(request, customer_number, principal, acting)
        cmd = domain.ChangeContactDetails(contact_id, _details(body), tag_in(if_match))
        recorded = await handlers.change_details(cmd, runtime_of(request).uow, context, acting)
        if recorded:  # the new details' ETag, for the next change
            response.headers["ETag"] = _tag_of(recorded[-1].data)
        return Changed(version=recorded[-1].stream_version if recorded else 0)

    @r.delete(
        "/customers/{customer_number}/contacts/{contact_id}",
        response_model=Changed,
        responses=WRITE,
        summary="Remove a contact person (its authorizations are revoked with it)",
    )
    async def remove_contact(
        customer_number: CustomerNumber,
        contact_id: ContactId,
        request: Request,
        principal: CurrentPrincipal,
        on_behalf_of: uuid.UUID | None = None,
    ) -> Changed:
        acting = acting_for(principal, customer_number, on_behalf_of)
        context = context_for(request, customer_number, principal, acting)
        cmd = domain.RemoveContact(contact_id)
        now = context.occurred_at
        recorded = await handlers.on_contacts(
            runtime_of(request).uow, context, lambda s: domain.decide_remove_contact(s, cmd, acting, now)
        )
        return Changed(version=recorded[-1].stream_version)

    @r.post(
        "/customers/{customer_number}/contacts/{contact_id}/departure",
        response_model=DepartureRecorded,
        responses=WRITE,
        summary="Personnel change: the contact left the organisation; all its authorizations end now",
    )
    async def record_departure(
        customer_number: CustomerNumber,
        contact_id: ContactId,
        body: DepartureBody,
        request: Request,
        principal: CurrentPrincipal,
    ) -> DepartureRecorded:
        rt = runtime_of(request)
        acting = acting_for(principal, customer_number, body.on_behalf_of)
        context = context_for(request, customer_number, principal, acting)
        cmd = domain.RecordContactLeft(contact_id, body.note)
        now = context.occurred_at
        recorded = await handlers.on_contacts(
            rt.uow, context, lambda s: domain.decide_contact_left(s, cmd, acting, now)
        )
        revoked = [
            uuid.UUID(str(e.data["grant_id"])) for e in recorded if e.event_type == "ContactAuthorizationRevoked"
        ]
        return DepartureRecorded(version=recorded[-1].stream_version, revoked_grants=revoked)

    return r


def _tag_of(row: Any) -> str:
    """The ETag of the details in a read-model row or a `ContactDetailsChanged`'s data."""
    return domain.details_tag(
        row["name"], row["email"], row["phone"], row["organisation"], row["organisation_kind"], row["function"]
    )


def _contact_out(row: Any) -> ContactOut:
    return ContactOut(**row, etag=_tag_of(row))
