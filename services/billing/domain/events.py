"""Events of the billing service, published on `billing.events`.

Streams (all of one customer share the Kafka key, the customer number):

    billing-address-<n>    BillingAddressChanged; its version is what clients send back (If-Match)
    invoice-email-<n>      InvoiceEmailChanged; versioned apart, so that changing one never makes
                           a client's copy of the other stale
    billing-contact-<n>    BillingContactChanged: which contact person billing matters go to
    billing-refusals-<n>   SupportRequestRefused; recording a refusal never conflicts with an edit

`requested_by` names on whose request the change was made (`customer:<n>` for the account
owner, `contact:<uuid>` for a contact person billing's copy of the authorizations recognised,
`email:<address>` / `phone:<E.164>` for a requester it did not, as support heard them); `basis`
says why that was enough (see `authority.ChangeBasis`). The envelope's actor is who did it (the
customer, or the support agent), and the metadata holds the full authorization decision.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.envelope import DomainEvent
from shared.registry import EventRegistry

registry = EventRegistry()


@registry.register("BillingAddressChanged", version=1)
@dataclass(frozen=True)
class BillingAddressChanged(DomainEvent):
    """The whole new invoice address (not a diff)."""

    customer_number: str
    recipient: str
    addition: str | None
    street: str
    postcode: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    vat_id: str | None  # normalised: upper-case, no separators
    requested_by: str
    basis: str


@registry.register("InvoiceEmailChanged", version=1)
@dataclass(frozen=True)
class InvoiceEmailChanged(DomainEvent):
    customer_number: str
    email: str
    previous_email: str | None
    requested_by: str
    basis: str


@registry.register("BillingContactChanged", version=1)
@dataclass(frozen=True)
class BillingContactChanged(DomainEvent):
    """Which of the customer's contact persons (ids of contacts.events) billing matters go to; null: nobody."""

    customer_number: str
    contact_id: uuid.UUID | None
    previous_contact_id: uuid.UUID | None
    requested_by: str
    basis: str


@registry.register("SupportRequestRefused", version=1)
@dataclass(frozen=True)
class SupportRequestRefused(DomainEvent):
    """Support asked, on someone's behalf, for something billing's authorizations do not allow."""

    customer_number: str
    agent: str  # staff:<name>
    on_behalf_of: str  # contact_id:<uuid> | email:<normalised> | phone:<E.164>
    action: str  # the scope needed (shared.scopes)
    reasons: tuple[str, ...]  # reason codes of the decision (shared.authorization.ReasonCode)
    operation: str  # what was asked: change_billing_address | change_invoice_email | change_billing_contact
    contact_id: uuid.UUID | None = None  # the contact the requester was recognised as, if any
