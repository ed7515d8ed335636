"""The customer's contact persons as an aggregate: state folded from events, and decisions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from services.contacts.domain.errors import DuplicateContact
from services.contacts.domain.events import ContactAdded
from shared.envelope import DomainEvent


def stream_id(customer_number: str) -> str:
    return f"customer-contacts-{customer_number}"


@dataclass(frozen=True)
class Contact:
    contact_id: uuid.UUID
    name: str
    email: str
    phone: str | None
    organisation: str | None
    function: str | None


@dataclass(frozen=True)
class CustomerContacts:
    contacts: dict[uuid.UUID, Contact] = field(default_factory=dict)


@dataclass(frozen=True)
class AddContact:
    customer_number: str
    name: str
    email: str
    phone: str | None = None
    organisation: str | None = None
    function: str | None = None


def evolve(state: CustomerContacts, event: DomainEvent) -> CustomerContacts:
    if isinstance(event, ContactAdded):
        contact = Contact(event.contact_id, event.name, event.email, event.phone, event.organisation, event.function)
        return replace(state, contacts={**state.contacts, event.contact_id: contact})
    return state


def fold(events: Iterable[DomainEvent]) -> CustomerContacts:
    state = CustomerContacts()
    for event in events:
        state = evolve(state, event)
    return state


def decide_add_contact(state: CustomerContacts, cmd: AddContact, contact_id: uuid.UUID) -> list[DomainEvent]:
    email = cmd.email.strip().lower()
    if any(c.email == email for c in state.contacts.values()):
        raise DuplicateContact(f"a contact with e-mail {email} already exists for this customer")
    return [
        ContactAdded(
            contact_id=contact_id,
            name=cmd.name.strip(),
            email=email,
            phone=cmd.phone,
            organisation=cmd.organisation,
            function=cmd.function,
        )
    ]
