"""Request and response bodies of the billing API (pydantic lives here, at the edge).

Field limits here only keep bodies small; the rules (countries, postcodes, VAT ids, e-mail
syntax) are the domain's, which answers with a 422 naming the field.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.http.bodies import RequestBody
from shared.http.requester import RequesterIn


class Body(RequestBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Edit(Body):
    version: int | None = Field(
        default=None,
        ge=0,
        strict=True,  # a number: not "2", not false
        description="The version you read (GET answers it in the body and as ETag). Alternatively send it as"
        ' `If-Match: "<version>"`. 0 when nothing was set yet. A stale version gets 409.',
    )
    on_behalf_of: RequesterIn | None = Field(
        default=None,
        description="Staff only, and required for staff: the person whose request support carries out. Allowed"
        " when billing's copy of the authorizations says this contact holds billing:manage now; with no"
        " official instruction in force, support may act to its best knowledge (recorded as such).",
    )
    written_instruction: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Staff only, instead of on_behalf_of: the reference of the account owner's written instruction"
        " (a signed letter or form support received) that this change carries out; recorded with it.",
    )
    ticket_reference: str | None = Field(default=None, max_length=100, description="Support's ticket, if any")


class BillingAddressIn(Edit):
    recipient: str = Field(min_length=1, max_length=200, description="Company or person invoices are addressed to")
    addition: str | None = Field(default=None, max_length=200, description="Department, c/o, building")
    street: str = Field(min_length=1, max_length=200, description="Street and house number, or PO box")
    postcode: str = Field(default="", max_length=20, description="May be empty only where a country has none")
    city: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=8, description="ISO 3166-1 alpha-2, e.g. DE")
    vat_id: str | None = Field(
        default=None, max_length=40, description="VAT id; EU ids with their member state prefix (DE..., ATU...)"
    )


class InvoiceEmailIn(Edit):
    email: str = Field(min_length=1, max_length=320)


class BillingContactIn(Edit):
    contact_id: uuid.UUID | None = Field(
        description="One of the customer's current contact persons (contacts' id), or null for nobody"
    )


class BillingAddress(BaseModel):
    recipient: str
    addition: str | None
    street: str
    postcode: str
    city: str
    country: str
    vat_id: str | None


class AuthorizationVersionOut(BaseModel):
    """How far billing's copy of the customer's authorizations (from contacts.events) was."""

    stream_id: str
    stream_version: int = Field(description="Version of contacts' stream of the last authorization event applied")
    occurred_at: datetime = Field(description="When that event happened")


class ReasonOut(BaseModel):
    code: str
    message: str
    grant_id: uuid.UUID | None = None
    on: datetime | None = None
    by: str | None = None
    document_reference: str | None = None


class DecisionOut(BaseModel):
    """On whose request and on what authority the change was made (recorded in the event's metadata)."""

    basis: str = Field(description="portal_account_owner | contact_grant | best_knowledge | written_instruction")
    requested_by: str = Field(description="customer:<n> | contact:<uuid> | email:<...> | phone:<...>")
    on_behalf_of: str | None = None
    outcome: str | None = Field(default=None, description="allowed | best_knowledge (support only)")
    contact_id: uuid.UUID | None = None
    grant_id: uuid.UUID | None = Field(default=None, description="The grant relied on")
    reasons: list[ReasonOut] = []
    decided_at: datetime | None = None
    authorization_version: AuthorizationVersionOut | None = Field(
        default=None, description="The version of billing's authorization copy the decision was taken on"
    )
    document_reference: str | None = Field(
        default=None, description="The account owner's written instruction carried out (written_instruction)"
    )


class BillingAddressOut(BaseModel):
    customer_number: str
    version: int
    address: BillingAddress | None = Field(description="null until one was set")
    changed: bool | None = Field(default=None, description="PUT only: whether this request changed anything")
    decision: DecisionOut | None = Field(default=None, description="PUT only")


class InvoiceEmailOut(BaseModel):
    customer_number: str
    version: int
    email: str | None = Field(description="null until one was set")
    changed: bool | None = Field(default=None, description="PUT only: whether this request changed anything")
    decision: DecisionOut | None = Field(default=None, description="PUT only")


class BillingContact(BaseModel):
    """The contact person billing matters go to, with their details as billing's copy of contacts has them."""

    contact_id: uuid.UUID
    name: str | None = Field(description="null only while billing's copy does not know the contact yet")
    email: str | None
    phone: str | None
    organisation: str | None
    function: str | None
    left_at: datetime | None = Field(
        description="When the contact was removed or left the customer: name someone else (the history keeps them)"
    )


class BillingContactOut(BaseModel):
    customer_number: str
    version: int
    contact: BillingContact | None = Field(description="null until one was named, or after naming nobody")
    changed: bool | None = Field(default=None, description="PUT only: whether this request changed anything")
    decision: DecisionOut | None = Field(default=None, description="PUT only")


class HistoryEntry(BaseModel):
    at: datetime
    kind: str = Field(
        description="billing_address_changed | invoice_email_changed | billing_contact_changed"
        " | support_request_refused"
    )
    actor: str = Field(description="Who did it: customer:<n> or staff:<name>")
    requested_by: str | None = Field(description="On whose request")
    on_behalf_of: str | None = Field(description="The requester support named, as looked up")
    basis: str | None = Field(description="portal_account_owner | contact_grant | best_knowledge | written_instruction")
    outcome: str | None = Field(description="allowed | best_knowledge | denied (support only)")
    grant_id: uuid.UUID | None
    authorization_version: int | None
    version: int = Field(description="Version of the changed resource (its stream) after the change")
    details: dict[str, Any]
    decision: dict[str, Any] = Field(description="The event's metadata: the full decision")


class HistoryPage(BaseModel):
    customer_number: str
    entries: list[HistoryEntry]
    next_cursor: str | None
