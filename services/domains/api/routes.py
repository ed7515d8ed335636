"""Routes of the domains service."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from services.domains import queries
from shared.http.context import CustomerNumber, runtime_of


class KnownContact(BaseModel):
    contact_id: uuid.UUID
    name: str
    email: str
    phone: str | None
    organisation: str | None
    function: str | None
    added_at: datetime


class KnownContacts(BaseModel):
    customer_number: str
    contacts: list[KnownContact]


def routers() -> list[APIRouter]:
    router = APIRouter(prefix="/api/domains/v1", tags=["domains"])

    @router.get(
        "/customers/{customer_number}/contacts",
        response_model=KnownContacts,
        summary="The customer's contact persons as the domains service knows them (from contacts.events)",
    )
    async def known_contacts(customer_number: CustomerNumber, request: Request) -> KnownContacts:
        rows = await queries.customer_contacts(runtime_of(request).pool, customer_number)
        return KnownContacts(customer_number=customer_number, contacts=[KnownContact(**r) for r in rows])

    return [router]
