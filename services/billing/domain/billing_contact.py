"""The billing contact: which of the customer's contact persons billing matters go to (stream
`billing-contact-<n>`).

Not a person of billing's own: one of the contact persons contacts keeps, named by id, so that
their name, address and phone stay contacts' (billing shows them from its copy of contacts.events)
and a departure is seen at once. Only a current contact can be named; one who leaves later stays
named (the history is what happened), and reading it says that they left, so that the owner or
support names someone else. Naming nobody clears it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from services.billing.domain.authority import Authority
from services.billing.domain.errors import NotACurrentContact
from services.billing.domain.events import BillingContactChanged
from shared.authorization.model import ContactDetails
from shared.envelope import DomainEvent


def stream_id(customer_number: str) -> str:
    return f"billing-contact-{customer_number}"


def fold(events: Iterable[DomainEvent]) -> uuid.UUID | None:
    contact_id = None
    for event in events:
        if isinstance(event, BillingContactChanged):
            contact_id = event.contact_id
    return contact_id


def decide_change_billing_contact(
    customer_number: str,
    current: uuid.UUID | None,
    wanted: uuid.UUID | None,
    known: ContactDetails | None,
    authority: Authority,
) -> list[DomainEvent]:
    """`known`: what billing's copy knows of `wanted` (None: nothing, or nobody was wanted)."""
    if wanted == current:
        return []
    if wanted is not None and (known is None or not known.current):
        why = "left the customer" if known is not None else "is no contact person of this customer billing knows of"
        raise NotACurrentContact(f"contact {wanted} {why}: name a current contact person, or nobody (null)")
    return [
        BillingContactChanged(
            customer_number=customer_number,
            contact_id=wanted,
            previous_contact_id=current,
            requested_by=authority.requested_by,
            basis=authority.basis.value,
        )
    ]
