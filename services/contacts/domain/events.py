"""Events of the contacts service, published on `contacts.events`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.envelope import DomainEvent
from shared.registry import EventRegistry

registry = EventRegistry()


@registry.register("ContactAdded", version=1)
@dataclass(frozen=True)
class ContactAdded(DomainEvent):
    contact_id: uuid.UUID
    name: str
    email: str
    phone: str | None
    organisation: str | None
    function: str | None
