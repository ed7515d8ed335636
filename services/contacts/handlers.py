"""Command handlers of the contacts service: load, decide (pure), append, in one unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from services.contacts.domain import address as address_domain
from services.contacts.domain import contacts
from services.contacts.domain.acting import Acting, ActingKind
from services.contacts.domain.errors import NotPermitted
from services.contacts.domain.events import ContactAdded, ContactRemoved
from shared.authorization.contract import RemovalReason
from shared.authorization.identifiers import DEFAULT_REGION
from shared.envelope import DomainEvent, EventContext, RecordedEvent
from shared.errors import ConcurrencyConflict
from shared.registry import EventRegistry
from shared.scopes import Scope, covers
from shared.unit_of_work import UnitOfWork, UnitOfWorkFactory

Decide = Callable[[contacts.CustomerContacts], list[DomainEvent]]


async def _load_contacts(
    tx: UnitOfWork, registry: EventRegistry, customer_number: str
) -> tuple[int, contacts.CustomerContacts]:
    stream = await tx.load(contacts.stream_id(customer_number))
    return stream.version, contacts.fold(registry.decode(e) for e in stream.events)


async def contact_as_recorded(
    uow: UnitOfWorkFactory, customer_number: str, contact_id: uuid.UUID
) -> dict[str, Any] | None:
    """One contact (also a removed one) as its customer's stream holds it, with the instants of its
    events: the read model's row once the projection has caught up, without waiting for it, so a
    contact is found at once after the 201 that created it and its ETag is the one a change is
    checked against."""
    stream = await uow.store.load(contacts.stream_id(customer_number))
    decoded = [(recorded, uow.store.registry.decode(recorded)) for recorded in stream.events]
    contact = contacts.fold(event for _, event in decoded).contacts.get(contact_id)
    if contact is None:
        return None
    mine = [(r, e) for r, e in decoded if isinstance(e, ContactAdded | ContactRemoved) and e.contact_id == contact_id]
    added_at = next(r.occurred_at for r, e in mine if isinstance(e, ContactAdded))
    removal = next(((r, e) for r, e in mine if isinstance(e, ContactRemoved)), None)
    return {
        "contact_id": contact.contact_id, "name": contact.name, "email": contact.email, "phone": contact.phone,
        "phone_e164": contact.phone_e164, "organisation": contact.organisation,
        "organisation_kind": str(contact.organisation_kind), "function": contact.function, "added_at": added_at,
        "removed_at": removal[0].occurred_at if removal else None,
        "removed_reason": str(removal[1].reason) if removal else None,
    }  # fmt: skip


async def on_contacts(uow: UnitOfWorkFactory, context: EventContext, decide: Decide) -> list[RecordedEvent]:
    """Run one decision on the customer's contacts aggregate; returns the recorded events."""
    async with uow() as tx:
        version, state = await _load_contacts(tx, uow.store.registry, context.customer_number)
        events = decide(state)
        recorded = await tx.append(contacts.stream_id(context.customer_number), version, events, context)
        await _queue_owner_notifications(tx, recorded)
        await tx.commit()
    return recorded


async def _queue_owner_notifications(tx: UnitOfWork, recorded: Sequence[RecordedEvent]) -> None:
    # The e-mail to the account owner is queued in the same transaction as the personnel change,
    # so it cannot be lost; `notifier.py` sends it (at least once).
    removals = [e for e in recorded if e.event_type == ContactRemoved.event_type]
    for event in removals:
        if event.data["reason"] != RemovalReason.LEFT_ORGANISATION.value:
            continue
        revoked = [
            e.data["grant_id"]
            for e in recorded
            if e.data.get("contact_id") == event.data["contact_id"] and e.event_type == "ContactAuthorizationRevoked"
        ]
        payload = {
            "contact_id": event.data["contact_id"],
            "revoked_grants": revoked,
            "recorded_by": str(event.actor),
            "decided_by": event.data["removed_by"],
            "occurred_at": event.occurred_at.isoformat(),
        }
        await tx.connection.execute(
            "INSERT INTO owner_notifications (notification_id, customer_number, kind, payload, created_at)"
            " VALUES ($1, $2, 'contact_left', $3, $4)",
            event.event_id,
            event.customer_number,
            payload,
            event.occurred_at,
        )


async def add_contact(
    cmd: contacts.AddContact,
    uow: UnitOfWorkFactory,
    context: EventContext,
    contact_id: uuid.UUID,
    acting: Acting,
) -> tuple[uuid.UUID, int]:
    now = context.occurred_at
    region = await phone_region(uow, context.customer_number)
    recorded = await on_contacts(
        uow, context, lambda s: contacts.decide_add_contact(s, cmd, contact_id, acting, now, region)
    )
    return contact_id, recorded[-1].stream_version


async def change_address(
    customer_number: str,
    wanted: address_domain.Address,
    expected_version: int,
    uow: UnitOfWorkFactory,
    context: EventContext,
    acting: Acting,
) -> int:
    """Returns the address stream's new version; a stale `expected_version` raises a conflict."""
    registry = uow.store.registry
    async with uow() as tx:
        if acting.kind is ActingKind.CONTACT_VIA_SUPPORT:
            assert acting.contact_id is not None
            _, people = await _load_contacts(tx, registry, customer_number)
            if not covers(people.held_scopes(acting.contact_id, context.occurred_at), Scope.MANAGE_BILLING):
                raise NotPermitted("the acting contact may not manage billing data")
        stream = await tx.load(address_domain.stream_id(customer_number))
        if stream.version != expected_version:
            raise ConcurrencyConflict(stream.stream_id, expected_version, stream.version)
        current = address_domain.fold(registry.decode(e) for e in stream.events)
        events = address_domain.decide_change_address(current, wanted, acting)
        if not events:
            return stream.version
        recorded = await tx.append(stream.stream_id, stream.version, events, context)
        await tx.commit()
    return recorded[-1].stream_version


async def change_details(
    cmd: contacts.ChangeContactDetails, uow: UnitOfWorkFactory, context: EventContext, acting: Acting
) -> list[RecordedEvent]:
    now = context.occurred_at
    region = await phone_region(uow, context.customer_number)
    return await on_contacts(uow, context, lambda s: contacts.decide_change_details(s, cmd, acting, now, region))


async def phone_region(uow: UnitOfWorkFactory, customer_number: str) -> str:
    """Where a contact's national phone number is read: the country of the customer's address (an
    Austrian customer's "0664 1234567" is +43 664 1234567), DE while no address is on file."""
    address, _ = await load_address(uow, customer_number)
    return address.country if address is not None else DEFAULT_REGION


async def load_address(uow: UnitOfWorkFactory, customer_number: str) -> tuple[address_domain.Address | None, int]:
    stream = await uow.store.load(address_domain.stream_id(customer_number))
    return address_domain.fold(uow.store.registry.decode(e) for e in stream.events), stream.version
