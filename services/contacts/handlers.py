"""Command handlers of the contacts service: load, decide (pure), append, in one unit of work."""

from __future__ import annotations

import uuid

from services.contacts.domain import contacts
from shared.envelope import EventContext
from shared.unit_of_work import UnitOfWorkFactory


async def add_contact(
    cmd: contacts.AddContact, uow: UnitOfWorkFactory, context: EventContext, contact_id: uuid.UUID
) -> tuple[uuid.UUID, int]:
    async with uow() as tx:
        stream = await tx.load(contacts.stream_id(cmd.customer_number))
        state = contacts.fold(uow.store.registry.decode(e) for e in stream.events)
        events = contacts.decide_add_contact(state, cmd, contact_id)
        recorded = await tx.append(stream.stream_id, stream.version, events, context)
        await tx.commit()
    return contact_id, recorded[-1].stream_version
