"""Routes of the contacts service: thin, they translate HTTP to commands and back."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from services.contacts import handlers
from services.contacts.api.schemas import AddContactBody, ContactCreated
from services.contacts.domain.contacts import AddContact
from shared.envelope import SYSTEM_ACTOR
from shared.http.context import CustomerNumber, event_context, runtime_of
from shared.http.problems import Problem

PROBLEMS = {
    400: {"model": Problem, "description": "Malformed request"},
    409: {"model": Problem, "description": "Conflict with the current state"},
    413: {"model": Problem, "description": "Body too large"},
    422: {"model": Problem, "description": "Invalid fields"},
}


def routers() -> list[APIRouter]:
    router = APIRouter(prefix="/api/contacts/v1", tags=["contacts"])

    @router.post(
        "/customers/{customer_number}/contacts",
        status_code=201,
        response_model=ContactCreated,
        responses=PROBLEMS,  # type: ignore[arg-type]
        summary="Add a contact person to a customer",
    )
    async def add_contact(
        customer_number: CustomerNumber, body: AddContactBody, request: Request, response: Response
    ) -> ContactCreated:
        rt = runtime_of(request)
        cmd = AddContact(customer_number, body.name, str(body.email), body.phone, body.organisation, body.function)
        context = event_context(request, customer_number, SYSTEM_ACTOR)
        contact_id, version = await handlers.add_contact(cmd, rt.uow, context, uuid.uuid4())
        response.headers["Location"] = f"/api/contacts/v1/customers/{customer_number}/contacts/{contact_id}"
        return ContactCreated(contact_id=contact_id, version=version)

    return [router]
