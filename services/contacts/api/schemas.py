"""Request and response bodies of the contacts API (pydantic lives here, at the edge)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field

from shared.authorization.contract import OrganisationKind
from shared.http.bodies import DisplayName, OptionalDisplayName, RequestBody
from shared.http.requester import RequesterIn
from shared.scopes import Scope

# Path parameters, described for the OpenAPI document.
ContactId = Annotated[uuid.UUID, Path(description="A contact person's id, as adding them answered")]
GrantId = Annotated[uuid.UUID, Path(description="A grant's id, as granting answered")]


class Body(RequestBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Acted(Body):
    on_behalf_of: uuid.UUID | None = Field(
        default=None,
        description="Staff only: the contact person whose request support carries out. The decision is then"
        " the contact's, within the contact's own scopes (it needs contacts:manage).",
    )


class ContactBody(Acted):
    name: DisplayName
    email: EmailStr
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+()./ -]{3,40}$")
    organisation: OptionalDisplayName = Field(default=None, description="The contractor's name, if any")
    organisation_kind: OrganisationKind = OrganisationKind.CUSTOMER
    function: OptionalDisplayName = None


# The walking skeleton's name for the add body.
AddContactBody = ContactBody


class ContactCreated(BaseModel):
    contact_id: uuid.UUID
    version: int


class Changed(BaseModel):
    version: int


class ContactOut(BaseModel):
    contact_id: uuid.UUID
    name: str
    email: str
    phone: str | None
    phone_e164: str | None
    organisation: str | None
    organisation_kind: str
    function: str | None
    added_at: datetime
    removed_at: datetime | None = None
    removed_reason: str | None = None
    etag: str = Field(
        description="The details' ETag (also the ETag header of the contact's GET): send it as If-Match with a"
        " change, and a change someone made after you read gets 409 instead of being overwritten"
    )


class ContactsOut(BaseModel):
    customer_number: str
    contacts: list[ContactOut]


class DepartureBody(Acted):
    note: str | None = Field(default=None, max_length=1000)


class DepartureRecorded(BaseModel):
    version: int
    revoked_grants: list[uuid.UUID]


class GrantBody(Acted):
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    note: str | None = Field(default=None, max_length=1000)


class GrantCreated(BaseModel):
    grant_id: uuid.UUID
    version: int


class RevokeBody(Acted):
    reason: str = Field(min_length=1, max_length=500)


class InstructionBody(Body):
    document_reference: str = Field(min_length=1, max_length=200, description="Reference of the signed document")
    note: str | None = Field(default=None, max_length=1000)


class WithdrawInstructionBody(Body):
    reason: str | None = Field(default=None, max_length=500)


class InstructionOut(BaseModel):
    in_force: bool
    document_reference: str | None = None
    since: datetime | None = None
    changed_by: str | None = None


class AddressBody(Acted):
    company: str = Field(min_length=1, max_length=200)
    street: str = Field(min_length=1, max_length=200)
    postcode: str = Field(min_length=2, max_length=12)
    city: str = Field(min_length=1, max_length=100)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2, e.g. DE")
    version: int | None = Field(default=None, ge=0, strict=True, description="The version read (or send If-Match)")


class AddressOut(BaseModel):
    customer_number: str
    company: str | None
    street: str | None
    postcode: str | None
    city: str | None
    country: str | None
    version: int


class CheckBody(Body):
    requester: RequesterIn
    action: Scope
    at: AwareDatetime | None = Field(default=None, description="A past instant to check as of (default: now)")
    ticket_reference: str | None = Field(default=None, max_length=100)


class GrantOut(BaseModel):
    grant_id: uuid.UUID
    contact_id: uuid.UUID
    scopes: list[str]
    valid_from: datetime
    valid_until: datetime | None
    granted_at: datetime
    granted_by: str
    basis: str
    note: str | None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None


class ReasonOut(BaseModel):
    code: str
    message: str
    grant: GrantOut | None = None
    on: datetime | None = None
    by: str | None = None
    document_reference: str | None = None


class CheckResult(BaseModel):
    outcome: str = Field(description="allowed | denied | best_knowledge")
    action: str
    at: datetime
    contact_id: uuid.UUID | None
    grant_id: uuid.UUID | None
    reasons: list[ReasonOut]
    check_id: uuid.UUID | None = Field(default=None, description="Set when the check was recorded (support)")


class HolderOut(BaseModel):
    contact_id: uuid.UUID
    scopes: list[str]
    grants: list[GrantOut]


class AuthorizationsOut(BaseModel):
    customer_number: str
    at: datetime
    official_instruction: InstructionOut
    holders: list[HolderOut]


class HistoryEntry(BaseModel):
    at: datetime
    kind: str
    recorded_by: str
    decided_by: str | None
    basis: str | None
    contact_id: uuid.UUID | None
    grant_id: uuid.UUID | None
    details: dict[str, Any]


class HistoryPage(BaseModel):
    customer_number: str
    entries: list[HistoryEntry]
    next_cursor: str | None


class ScopeOut(BaseModel):
    scope: str
    description: str
