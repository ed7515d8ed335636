"""Routes for the customer's address: read it with its version, change it with that version."""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import fields as dataclass_fields
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from services.contacts import handlers
from services.contacts.api.acting import READERS, acting_for, context_for, known_customer
from services.contacts.api.problems import READ, WRITE
from services.contacts.api.schemas import AddressBody, AddressOut
from services.contacts.domain.address import Address
from shared.auth.dependencies import CurrentPrincipal, ensure_customer_access
from shared.http.context import CustomerNumber, runtime_of
from shared.http.versions import etag, expected_version


def router() -> APIRouter:
    r = APIRouter(prefix="/api/contacts/v1", tags=["address"], dependencies=[Depends(known_customer)])

    @r.get(
        "/customers/{customer_number}/address",
        response_model=AddressOut,
        responses=READ,
        summary="The customer's address, with its version (also as ETag)",
    )
    async def get_address(
        customer_number: CustomerNumber, request: Request, response: Response, principal: CurrentPrincipal
    ) -> AddressOut:
        ensure_customer_access(principal, customer_number, *READERS)
        address, version = await handlers.load_address(runtime_of(request).uow, customer_number)
        response.headers["ETag"] = etag(version)
        fields = asdict(address) if address is not None else dict.fromkeys(f.name for f in dataclass_fields(Address))
        return AddressOut(customer_number=customer_number, version=version, **fields)

    @r.put(
        "/customers/{customer_number}/address",
        response_model=AddressOut,
        responses=WRITE,
        summary="Change the address; send the version read (If-Match or `version`), a stale one gets 409",
    )
    async def put_address(
        customer_number: CustomerNumber,
        body: AddressBody,
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
        if_match: Annotated[str | None, Header()] = None,
    ) -> AddressOut:
        acting = acting_for(principal, customer_number, body.on_behalf_of)
        expected = expected_version(if_match, body.version)
        context = context_for(request, customer_number, principal, acting)
        wanted = Address(body.company, body.street, body.postcode, body.city, body.country)
        version = await handlers.change_address(
            customer_number, wanted, expected, runtime_of(request).uow, context, acting
        )
        address, version = await handlers.load_address(runtime_of(request).uow, customer_number)
        assert address is not None
        response.headers["ETag"] = etag(version)
        return AddressOut(customer_number=customer_number, version=version, **asdict(address))

    return r
