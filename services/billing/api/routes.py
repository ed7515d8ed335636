"""Routes of the billing service: the invoice address, the invoice e-mail, the billing contact and
the history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from services.billing import handlers, queries
from services.billing.api.acting import authority_for, decision_out, ensure_readable
from services.billing.api.problems import READ, WRITE
from services.billing.api.schemas import (
    BillingAddress,
    BillingAddressIn,
    BillingAddressOut,
    BillingContact,
    BillingContactIn,
    BillingContactOut,
    HistoryEntry,
    HistoryPage,
    InvoiceEmailIn,
    InvoiceEmailOut,
)
from services.billing.domain import address as address_domain
from services.billing.domain.authority import Operation
from shared.auth.dependencies import CurrentPrincipal
from shared.authorization.model import ContactDetails
from shared.http.context import CustomerNumber, event_context, runtime_of
from shared.http.versions import etag, expected_version

IfMatch = Annotated[
    str | None,
    Header(description='The ETag you read (`"<version>"`); alternatively the body\'s `version`. Stale: 409.'),
]

_CONCURRENCY = (
    " Send the version you read, as `If-Match` (the ETag of the GET) or as the body's `version`; if the"
    " resource changed since, the answer is 409 and nothing is changed."
)
_WHO = (
    " The account owner may; staff (support, admin) only on behalf of a named requester (`on_behalf_of`),"
    " decided on billing's own copy of the authorizations (scope billing:manage): allowed for a contact holding"
    " the scope, to best knowledge when no official instruction is in force and nothing speaks against the"
    " requester, else 403 with the reasons (the refusal is recorded as SupportRequestRefused). The answer's"
    " `decision` says on what authority, and which version of the authorization copy, the change was made."
)


def _address_out(address: address_domain.BillingAddress | None) -> BillingAddress | None:
    if address is None:
        return None
    return BillingAddress(
        recipient=address.recipient,
        addition=address.addition,
        street=address.street,
        postcode=address.postcode,
        city=address.city,
        country=address.country,
        vat_id=address.vat_id,
    )


def _contact_out(contact: ContactDetails | uuid.UUID | None) -> BillingContact | None:
    if contact is None:
        return None
    if isinstance(contact, uuid.UUID):  # named, but not (yet) in billing's copy of contacts
        return BillingContact(
            contact_id=contact, name=None, email=None, phone=None, organisation=None, function=None, left_at=None
        )
    return BillingContact(
        contact_id=contact.contact_id,
        name=contact.name,
        email=contact.email,
        phone=contact.phone,
        organisation=contact.organisation,
        function=contact.function,
        left_at=contact.removed_at,
    )


def router() -> APIRouter:
    r = APIRouter(prefix="/api/billing/v1", tags=["billing"])

    @r.get(
        "/customers/{customer_number}/billing-address",
        response_model=BillingAddressOut,
        responses=READ,
        summary="The invoice address, with its version (also as ETag)",
    )
    async def get_billing_address(
        customer_number: CustomerNumber, request: Request, response: Response, principal: CurrentPrincipal
    ) -> BillingAddressOut:
        await ensure_readable(request, principal, customer_number)
        address, version = await handlers.load_billing_address(runtime_of(request).uow, customer_number)
        response.headers["ETag"] = etag(version)
        return BillingAddressOut(customer_number=customer_number, version=version, address=_address_out(address))

    @r.put(
        "/customers/{customer_number}/billing-address",
        response_model=BillingAddressOut,
        responses=WRITE,
        summary="Replace the invoice address (full postal address, optional VAT id)",
        description="Country: ISO 3166-1 alpha-2; postcode in the country's format (DE, AT, CH and others known;"
        " a general rule elsewhere); VAT id: EU ids with their member state's prefix and format (check digit"
        " for DE and AT)." + _CONCURRENCY + _WHO,
    )
    async def put_billing_address(
        customer_number: CustomerNumber,
        body: BillingAddressIn,
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
        if_match: IfMatch = None,
    ) -> BillingAddressOut:
        authority = await authority_for(request, principal, customer_number, body, Operation.CHANGE_BILLING_ADDRESS)
        expected = expected_version(if_match, body.version)
        wanted = address_domain.BillingAddress(
            recipient=body.recipient,
            street=body.street,
            postcode=body.postcode,
            city=body.city,
            country=body.country,
            addition=body.addition,
            vat_id=body.vat_id,
        )
        uow = runtime_of(request).uow
        context = event_context(request, customer_number, principal.actor, **authority.metadata)
        result = await handlers.change_billing_address(uow, customer_number, wanted, expected, authority, context)
        address, version = await handlers.load_billing_address(uow, customer_number)
        response.headers["ETag"] = etag(version)
        return BillingAddressOut(
            customer_number=customer_number,
            version=version,
            address=_address_out(address),
            changed=result.changed,
            decision=decision_out(authority),
        )

    @r.get(
        "/customers/{customer_number}/invoice-email",
        response_model=InvoiceEmailOut,
        responses=READ,
        summary="The e-mail address invoices are sent to, with its version (also as ETag)",
    )
    async def get_invoice_email(
        customer_number: CustomerNumber, request: Request, response: Response, principal: CurrentPrincipal
    ) -> InvoiceEmailOut:
        await ensure_readable(request, principal, customer_number)
        email, version = await handlers.load_invoice_email(runtime_of(request).uow, customer_number)
        response.headers["ETag"] = etag(version)
        return InvoiceEmailOut(customer_number=customer_number, version=version, email=email)

    @r.put(
        "/customers/{customer_number}/invoice-email",
        response_model=InvoiceEmailOut,
        responses=WRITE,
        summary="Change the invoice e-mail address; the previous and the new address are told by e-mail",
        description="A syntactically valid address (no DNS lookup)." + _CONCURRENCY + _WHO,
    )
    async def put_invoice_email(
        customer_number: CustomerNumber,
        body: InvoiceEmailIn,
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
        if_match: IfMatch = None,
    ) -> InvoiceEmailOut:
        authority = await authority_for(request, principal, customer_number, body, Operation.CHANGE_INVOICE_EMAIL)
        expected = expected_version(if_match, body.version)
        rt = runtime_of(request)
        context = event_context(request, customer_number, principal.actor, **authority.metadata)
        result = await handlers.change_invoice_email(rt.uow, customer_number, body.email, expected, authority, context)
        email, version = await handlers.load_invoice_email(rt.uow, customer_number)
        response.headers["ETag"] = etag(version)
        return InvoiceEmailOut(
            customer_number=customer_number,
            version=version,
            email=email,
            changed=result.changed,
            decision=decision_out(authority),
        )

    @r.get(
        "/customers/{customer_number}/billing-contact",
        response_model=BillingContactOut,
        responses=READ,
        summary="The contact person billing matters go to, with their current details and version (also as ETag)",
        description="Details come from billing's copy of contacts.events; `left_at` says the person was removed"
        " or left the customer since they were named.",
    )
    async def get_billing_contact(
        customer_number: CustomerNumber, request: Request, response: Response, principal: CurrentPrincipal
    ) -> BillingContactOut:
        await ensure_readable(request, principal, customer_number)
        contact, version = await handlers.load_billing_contact(runtime_of(request).uow, customer_number)
        response.headers["ETag"] = etag(version)
        return BillingContactOut(customer_number=customer_number, version=version, contact=_contact_out(contact))

    @r.put(
        "/customers/{customer_number}/billing-contact",
        response_model=BillingContactOut,
        responses=WRITE,
        summary="Name the contact person billing matters go to (one of the customer's current contacts), or nobody",
        description="`contact_id`: a contact person contacts keeps for this customer, current in billing's copy"
        " (else 422, `field` contact_id); null names nobody." + _CONCURRENCY + _WHO,
    )
    async def put_billing_contact(
        customer_number: CustomerNumber,
        body: BillingContactIn,
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
        if_match: IfMatch = None,
    ) -> BillingContactOut:
        authority = await authority_for(request, principal, customer_number, body, Operation.CHANGE_BILLING_CONTACT)
        expected = expected_version(if_match, body.version)
        rt = runtime_of(request)
        context = event_context(request, customer_number, principal.actor, **authority.metadata)
        result = await handlers.change_billing_contact(
            rt.uow, customer_number, body.contact_id, expected, authority, context
        )
        contact, version = await handlers.load_billing_contact(rt.uow, customer_number)
        response.headers["ETag"] = etag(version)
        return BillingContactOut(
            customer_number=customer_number,
            version=version,
            contact=_contact_out(contact),
            changed=result.changed,
            decision=decision_out(authority),
        )

    @r.get(
        "/customers/{customer_number}/billing-history",
        response_model=HistoryPage,
        responses=READ,
        summary="Every change of the billing data (and every refused support request), oldest first",
        description="Each entry names who did it (`actor`), on whose request (`requested_by`, `on_behalf_of`),"
        " on what basis, the grant relied on and the authorization version the decision was taken on. Pages"
        " of `limit` entries; pass `next_cursor` as `cursor` for the next page. Follows billing's event store"
        " within moments of a change.",
    )
    async def billing_history(
        customer_number: CustomerNumber,
        request: Request,
        principal: CurrentPrincipal,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, Query(max_length=400)] = None,
    ) -> HistoryPage:
        await ensure_readable(request, principal, customer_number)
        entries, next_cursor = await queries.billing_history(
            runtime_of(request).pool, customer_number, limit=limit, cursor=cursor
        )
        return HistoryPage(
            customer_number=customer_number,
            entries=[
                HistoryEntry(
                    at=e["at"],
                    kind=e["kind"],
                    actor=e["actor"],
                    requested_by=e["requested_by"],
                    on_behalf_of=e["on_behalf_of"],
                    basis=e["basis"],
                    outcome=e["outcome"],
                    grant_id=e["grant_id"],
                    authorization_version=e["authorization_version"],
                    version=e["stream_version"],
                    details=e["details"],
                    decision=e["metadata"],
                )
                for e in entries
            ],
            next_cursor=next_cursor,
        )

    return r


def routers() -> list[APIRouter]:
    return [router()]
