"""Command handlers of the billing service: authorize, load, decide (pure), append, one transaction.

support_authority      decides a support request on billing's copy of the authorizations;
                       a refusal is recorded (SupportRequestRefused) and raised as 403
change_billing_address / change_invoice_email / change_billing_contact
                       compare the version the client read, decide, append; the invoice
                       e-mail change queues its two notices in the same transaction
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.billing.authorization import AuthorizationCopy
from services.billing.domain import address as address_domain
from services.billing.domain import billing_contact as contact_domain
from services.billing.domain import invoice_email as email_domain
from services.billing.domain.authority import Authority, Refusal, SupportRequest, on_behalf, reasons_as_dicts
from services.billing.domain.errors import RequestRefused
from services.billing.domain.events import InvoiceEmailChanged
from shared.authorization.model import ContactDetails
from shared.authorization.queries import contact_details
from shared.envelope import DomainEvent, EventContext, RecordedEvent
from shared.errors import ConcurrencyConflict
from shared.unit_of_work import UnitOfWork, UnitOfWorkFactory

ContextFor = Callable[[Mapping[str, Any]], EventContext]


def refusals_stream_id(customer_number: str) -> str:
    return f"billing-refusals-{customer_number}"


@dataclass(frozen=True, slots=True)
class Changed:
    """The state after a command: what is stored now, its version, and whether this changed it."""

    version: int
    changed: bool
    recorded: tuple[RecordedEvent, ...] = ()


async def support_authority(
    copy: AuthorizationCopy,
    uow: UnitOfWorkFactory,
    customer_number: str,
    request: SupportRequest,
    now: datetime,
    context_for: ContextFor,
) -> Authority:
    decision, version = await copy.decide(customer_number, request.on_behalf_of.requester, now)
    outcome = on_behalf(customer_number, request, decision, version)
    if isinstance(outcome, Authority):
        return outcome
    refusal_id = await record_refusal(uow, outcome, context_for(outcome.metadata))
    raise refused(outcome, refusal_id)


def refused(refusal: Refusal, refusal_id: uuid.UUID) -> RequestRefused:
    decision = refusal.decision
    return RequestRefused(
        f"billing's copy of the customer's authorizations does not allow this request ({', '.join(decision.codes)})",
        outcome=decision.outcome.value,
        action=decision.action,
        on_behalf_of=refusal.event.on_behalf_of,
        contact_id=str(decision.contact_id) if decision.contact_id else None,
        decided_at=decision.at.isoformat(),
        reasons=reasons_as_dicts(decision),
        authorization_version=refusal.version.as_dict() if refusal.version is not None else None,
        refusal_id=str(refusal_id),
    )


async def record_refusal(uow: UnitOfWorkFactory, refusal: Refusal, context: EventContext) -> uuid.UUID:
    """Append the refusal to the customer's refusals stream; a concurrent refusal just retries."""
    stream_id = refusals_stream_id(context.customer_number)
    for _ in range(20):
        async with uow() as tx:
            stream = await tx.load(stream_id)
            try:
                [recorded] = await tx.append(stream_id, stream.version, [refusal.event], context)
            except ConcurrencyConflict:
                continue
            await tx.commit()
            return recorded.event_id
    raise ConcurrencyConflict(stream_id, -1)


Decide = Callable[[UnitOfWork, list[DomainEvent]], Awaitable[list[DomainEvent]]]
WithEvents = Callable[[UnitOfWork, Sequence[RecordedEvent]], Awaitable[None]]


async def _change(
    uow: UnitOfWorkFactory,
    stream_id: str,
    expected_version: int,
    decide: Decide,
    context: EventContext,
    with_events: WithEvents | None = None,
) -> Changed:
    """Load the stream at the version the client read (else 409), decide on its events, append what
    was decided and whatever `with_events` adds, in one transaction."""
    async with uow() as tx:
        stream = await tx.load(stream_id)
        if stream.version != expected_version:
            raise ConcurrencyConflict(stream_id, expected_version, stream.version)
        new = await decide(tx, [uow.store.registry.decode(e) for e in stream.events])
        if not new:
            return Changed(stream.version, changed=False)
        recorded = await tx.append(stream_id, stream.version, new, context)
        if with_events is not None:
            await with_events(tx, recorded)
        await tx.commit()
    return Changed(recorded[-1].stream_version, changed=True, recorded=tuple(recorded))


async def change_billing_address(
    uow: UnitOfWorkFactory,
    customer_number: str,
    wanted: address_domain.BillingAddress,
    expected_version: int,
    authority: Authority,
    context: EventContext,
) -> Changed:
    async def decide(_: UnitOfWork, events: list[DomainEvent]) -> list[DomainEvent]:
        current = address_domain.fold(events)
        return address_domain.decide_change_address(customer_number, current, wanted, authority)

    return await _change(uow, address_domain.stream_id(customer_number), expected_version, decide, context)


async def change_invoice_email(
    uow: UnitOfWorkFactory,
    customer_number: str,
    wanted: str,
    expected_version: int,
    authority: Authority,
    context: EventContext,
) -> Changed:
    async def decide(_: UnitOfWork, events: list[DomainEvent]) -> list[DomainEvent]:
        current = email_domain.fold(events)
        return email_domain.decide_change_invoice_email(customer_number, current, wanted, authority)

    stream_id = email_domain.stream_id(customer_number)
    return await _change(uow, stream_id, expected_version, decide, context, with_events=_queue_notices)


async def change_billing_contact(
    uow: UnitOfWorkFactory,
    customer_number: str,
    wanted: uuid.UUID | None,
    expected_version: int,
    authority: Authority,
    context: EventContext,
) -> Changed:
    async def decide(tx: UnitOfWork, events: list[DomainEvent]) -> list[DomainEvent]:
        known = await contact_details(tx.connection, customer_number, wanted) if wanted else None
        current = contact_domain.fold(events)
        return contact_domain.decide_change_billing_contact(customer_number, current, wanted, known, authority)

    return await _change(uow, contact_domain.stream_id(customer_number), expected_version, decide, context)


_QUEUE_NOTICE = """
INSERT INTO invoice_email_notices (notice_id, event_id, customer_number, recipient, role, payload, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""


async def _queue_notices(tx: UnitOfWork, recorded: Sequence[RecordedEvent]) -> None:
    # Queued with the event, so a committed change is always announced (notices.py sends them).
    for event in recorded:
        if event.event_type != InvoiceEmailChanged.event_type:
            continue
        payload = {
            "email": event.data["email"],
            "previous_email": event.data["previous_email"],
            "requested_by": event.data["requested_by"],
            "basis": event.data["basis"],
            "actor": str(event.actor),
            "occurred_at": event.occurred_at.isoformat(),
        }
        recipients = [("new", event.data["email"])]
        if event.data["previous_email"]:
            recipients.insert(0, ("previous", event.data["previous_email"]))
        for role, recipient in recipients:
            await tx.connection.execute(
                _QUEUE_NOTICE,
                uuid.uuid5(event.event_id, role),
                event.event_id,
                event.customer_number,
                recipient,
                role,
                payload,
                event.occurred_at,
            )


async def load_billing_address(
    uow: UnitOfWorkFactory, customer_number: str
) -> tuple[address_domain.BillingAddress | None, int]:
    stream = await uow.store.load(address_domain.stream_id(customer_number))
    return address_domain.fold(uow.store.registry.decode(e) for e in stream.events), stream.version


async def load_invoice_email(uow: UnitOfWorkFactory, customer_number: str) -> tuple[str | None, int]:
    stream = await uow.store.load(email_domain.stream_id(customer_number))
    return email_domain.fold(uow.store.registry.decode(e) for e in stream.events), stream.version


async def load_billing_contact(
    uow: UnitOfWorkFactory, customer_number: str
) -> tuple[ContactDetails | uuid.UUID | None, int]:
    """The billing contact as billing's copy knows them (only the id, if the copy does not), and
    the stream's version."""
    stream = await uow.store.load(contact_domain.stream_id(customer_number))
    contact_id = contact_domain.fold(uow.store.registry.decode(e) for e in stream.events)
    if contact_id is None:
        return None, stream.version
    known = await contact_details(uow.pool, customer_number, contact_id)
    return known or contact_id, stream.version
