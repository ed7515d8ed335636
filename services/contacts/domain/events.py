"""Events of the contacts service, published on `contacts.events`.

Streams (one customer's events always share the Kafka key, the customer number):

    customer-contacts-<n>               contacts, grants, official instruction: the aggregate whose
                                        rules must hold together (no duplicate e-mail, a contact
                                        grants only what it holds, left => all grants revoked)
    customer-address-<n>                the address; its version is the ETag clients send back
    customer-authorization-checks-<n>   support's checks, so recording a check never conflicts
                                        with an edit of the grants

The authorization events' data is the public contract documented in
`shared.authorization.contract`; consumers build "who may do what" from it alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.authorization.contract import GrantBasis, OrganisationKind, RemovalReason
from shared.envelope import DomainEvent
from shared.registry import EventRegistry
from shared.scopes import Scope

registry = EventRegistry()


@registry.register("ContactAdded", version=1)
@dataclass(frozen=True)
class ContactAdded(DomainEvent):
    contact_id: uuid.UUID
    name: str
    email: str  # normalised: trimmed, lower-case
    phone: str | None  # as entered, for display
    organisation: str | None
    function: str | None
    # Added after the walking skeleton, optional so that its events still decode.
    phone_e164: str | None = None
    organisation_kind: OrganisationKind = OrganisationKind.CUSTOMER


@registry.register("ContactDetailsChanged", version=1)
@dataclass(frozen=True)
class ContactDetailsChanged(DomainEvent):
    contact_id: uuid.UUID
    name: str
    email: str
    phone: str | None
    phone_e164: str | None
    organisation: str | None
    organisation_kind: OrganisationKind
    function: str | None


@registry.register("ContactRemoved", version=1)
@dataclass(frozen=True)
class ContactRemoved(DomainEvent):
    contact_id: uuid.UUID
    reason: RemovalReason
    removed_by: str
    note: str | None = None


@registry.register("ContactAuthorized", version=1)
@dataclass(frozen=True)
class ContactAuthorized(DomainEvent):
    grant_id: uuid.UUID
    contact_id: uuid.UUID
    scopes: tuple[Scope, ...]
    valid_from: datetime
    valid_until: datetime | None
    granted_by: str  # who decided: customer:<n>, contact:<uuid> or staff:<name>
    basis: GrantBasis
    note: str | None = None


@registry.register("ContactAuthorizationRevoked", version=1)
@dataclass(frozen=True)
class ContactAuthorizationRevoked(DomainEvent):
    grant_id: uuid.UUID
    contact_id: uuid.UUID
    reason: str
    revoked_by: str
    basis: GrantBasis


@registry.register("OfficialInstructionIssued", version=1)
@dataclass(frozen=True)
class OfficialInstructionIssued(DomainEvent):
    document_reference: str
    issued_by: str
    note: str | None = None


@registry.register("OfficialInstructionWithdrawn", version=1)
@dataclass(frozen=True)
class OfficialInstructionWithdrawn(DomainEvent):
    document_reference: str
    withdrawn_by: str
    reason: str | None = None


@registry.register("CustomerAddressChanged", version=1)
@dataclass(frozen=True)
class CustomerAddressChanged(DomainEvent):
    company: str
    street: str
    postcode: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    changed_by: str


@registry.register("AuthorizationChecked", version=1)
@dataclass(frozen=True)
class AuthorizationChecked(DomainEvent):
    check_id: uuid.UUID
    agent: str  # the support agent who checked (staff:<name>)
    requester_kind: str  # contact_id | email | phone
    requester: str  # as support typed it
    requester_normalised: str
    contact_id: uuid.UUID | None  # whom the requester resolved to
    action: str
    at: datetime  # the instant asked about
    outcome: str  # allowed | denied | best_knowledge
    reasons: tuple[str, ...]  # reason codes
    grant_id: uuid.UUID | None  # the grant relied on, when allowed
    ticket_reference: str | None = None
