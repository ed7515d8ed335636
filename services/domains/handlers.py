"""Command handlers: load the domain's stream, decide (pure), append.

Authorization has been settled by the caller (`api/acting.py`) and travels in the envelope's
metadata. Commands that write private rows beside their events run in a unit of work
(`on_domain`; the ones making secrets are in `credentials.py`).

Commands that write nothing but their events (vhosts, redirects, cancellations) hold no
connection of their own: the decision is taken on the state kept in memory (`states.py`) and
the events appended by a single INSERT, which refuses a stale expected version by itself,
committed together with other commands' appends waiting at the same time (`appends.py`). As a
rule that INSERT is the command's only statement (see `bench/domains.py`).

Commands re-run on a fresh state when a concurrent command on the same domain won the race for
the stream version (the decision is taken again, so no rule is bypassed).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date

import structlog

from services.domains.domain import domains as rules
from services.domains.domain.domains import Domain
from services.domains.domain.names import HostName
from services.domains.domain.urls import TargetUrl
from services.domains.runtime import DomainsRuntime
from services.domains.states import Known
from shared.db import Connection
from shared.envelope import DomainEvent, EventContext, RecordedEvent
from shared.errors import ConcurrencyConflict, DomainError
from shared.eventstore.postgres import StreamAppend
from shared.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger(__name__)

ATTEMPTS = 5

Decide = Callable[[Domain | None], list[DomainEvent]]
SideEffect = Callable[[UnitOfWork, Sequence[RecordedEvent]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Outcome:
    recorded: Sequence[RecordedEvent]
    version: int


async def on_domain(
    rt: DomainsRuntime, domain: str, context: EventContext, decide: Decide, side: SideEffect | None = None
) -> Outcome:
    """Run one decision on a domain's stream in a unit of work; an empty decision records nothing."""
    stream = rules.stream_id(domain)
    registry = rt.uow.store.registry
    attempt = 0
    async with rt.states.turn(stream):
        while True:
            attempt += 1
            try:
                async with rt.uow() as tx:
                    loaded = await tx.load(stream)
                    before = rules.fold(registry.decode(e) for e in loaded.events)
                    events = decide(before)
                    if not events:
                        return Outcome((), loaded.version)
                    recorded = await tx.append(stream, loaded.version, events, context)
                    if side is not None:
                        await side(tx, recorded)
                    await tx.commit()
                rt.states.appended(stream, Known(loaded.version, None, before), events, recorded)
                return Outcome(recorded, recorded[-1].stream_version)
            except ConcurrencyConflict:
                if attempt >= ATTEMPTS:
                    raise


async def on_domain_direct(rt: DomainsRuntime, domain: str, context: EventContext, decide: Decide) -> Outcome:
    """One decision on a domain's stream, appended by one statement (no side effects), grouped
    with other commands' appends into one commit (`appends.py`).

    Decided on the state `rt.states` holds, without reading the store first: a successful append
    at that version proves the state was the latest (the insert refuses a stale expected
    version). Only what the append cannot prove is checked by reading the events since: a
    refusal or an empty decision on a kept state, and a lost race (another replica appended).
    """
    stream = rules.stream_id(domain)
    attempt = 0
    async with rt.states.turn(stream):
        known, confirmed = rt.states.kept(stream), False
        if known is None:
            known, confirmed = await rt.states.current(rt.pool, stream), True
        while True:
            attempt += 1
            try:
                events = decide(known.state)
            except DomainError:
                if confirmed:
                    raise
                known, confirmed = await rt.states.current(rt.pool, stream), True
                continue
            if not events:
                if confirmed:
                    return Outcome((), known.version)
                known, confirmed = await rt.states.current(rt.pool, stream), True
                continue
            try:
                recorded = await rt.appends.append(StreamAppend(stream, known.version, events, context, known.head))
            except ConcurrencyConflict:  # another replica won: decide again on the newer state
                if attempt >= ATTEMPTS:
                    raise
                known, confirmed = await rt.states.current(rt.pool, stream), True
                continue
            rt.states.appended(stream, known, events, recorded)
            return Outcome(recorded, recorded[-1].stream_version)


async def load_domain(uow: UnitOfWorkFactory, domain: str) -> tuple[Domain | None, Sequence[RecordedEvent]]:
    """The domain's state and the recorded events it was folded from."""
    stream = await uow.store.load(rules.stream_id(domain))
    return rules.fold(uow.store.registry.decode(e) for e in stream.events), stream.events


async def register_domain(rt: DomainsRuntime, name: HostName, context: EventContext) -> Outcome:
    async def forget_previous_secrets(tx: UnitOfWork, _: Sequence[RecordedEvent]) -> None:
        # A name registered again starts from nothing, secrets of the previous contract included.
        for table in ("ftp_credentials", "mailbox_passwords", "mailbox_password_links"):
            await tx.connection.execute(f"DELETE FROM {table} WHERE domain = $1", name.ascii)  # noqa: S608

    n, now = context.customer_number, context.occurred_at
    return await on_domain(
        rt, name.ascii, context, lambda s: rules.decide_register(s, name, n, now), forget_previous_secrets
    )


async def cancel_domain(rt: DomainsRuntime, domain: str, effective_on: date | None, context: EventContext) -> Outcome:
    n, now = context.customer_number, context.occurred_at
    return await on_domain_direct(rt, domain, context, lambda s: rules.decide_cancel(s, n, effective_on, now))


async def withdraw_cancellation(rt: DomainsRuntime, domain: str, context: EventContext) -> Outcome:
    n, now = context.customer_number, context.occurred_at
    return await on_domain_direct(rt, domain, context, lambda s: rules.decide_withdraw_cancellation(s, n, now))


async def create_vhost(rt: DomainsRuntime, domain: str, vhost: HostName, context: EventContext) -> Outcome:
    n, now = context.customer_number, context.occurred_at
    return await on_domain_direct(rt, domain, context, lambda s: rules.decide_create_vhost(s, n, vhost, now))


async def _forget_deleted_mailboxes(tx: UnitOfWork, recorded: Sequence[RecordedEvent]) -> None:
    deleted = [uuid.UUID(str(e.data["mailbox_id"])) for e in recorded if e.event_type == "MailboxDeleted"]
    if deleted:
        await tx.connection.execute("DELETE FROM mailbox_passwords WHERE mailbox_id = ANY($1)", deleted)
        await tx.connection.execute("DELETE FROM mailbox_password_links WHERE mailbox_id = ANY($1)", deleted)


async def delete_vhost(rt: DomainsRuntime, domain: str, vhost: HostName, context: EventContext) -> Outcome:
    n, now = context.customer_number, context.occurred_at
    return await on_domain(
        rt, domain, context, lambda s: rules.decide_delete_vhost(s, n, vhost, now), _forget_deleted_mailboxes
    )


async def delete_mailbox(
    rt: DomainsRuntime, domain: str, vhost: HostName, local_part: str, context: EventContext
) -> Outcome:
    n, now = context.customer_number, context.occurred_at
    return await on_domain(
        rt,
        domain,
        context,
        lambda s: rules.decide_delete_mailbox(s, n, vhost, local_part, now),
        _forget_deleted_mailboxes,
    )


async def set_redirect(
    rt: DomainsRuntime,
    domain: str,
    source: HostName,
    target: TargetUrl,
    permanent: bool,
    context: EventContext,
    expected_tag: str | None = None,
) -> Outcome:
    n, now = context.customer_number, context.occurred_at
    return await on_domain_direct(
        rt, domain, context, lambda s: rules.decide_set_redirect(s, n, source, target, permanent, now, expected_tag)
    )


async def remove_redirect(
    rt: DomainsRuntime, domain: str, source: HostName, context: EventContext, expected_tag: str | None = None
) -> Outcome:
    n, now = context.customer_number, context.occurred_at
    return await on_domain_direct(
        rt, domain, context, lambda s: rules.decide_remove_redirect(s, n, source, now, expected_tag)
    )


def support_requests_stream(customer_number: str) -> str:
    return f"support-requests-{customer_number}"


async def record_support_event(
    uow: UnitOfWorkFactory, context: EventContext, event: DomainEvent, conn: Connection | None = None
) -> int:
    """Append to the customer's support-request stream (never read back, so only its version is looked up).

    On `conn` when the request holds one: taking a second connection while holding one could
    wait forever on an exhausted pool.
    """
    if conn is None:
        async with uow.pool.acquire() as borrowed:
            return await _record_on(uow, borrowed, context, event)
    return await _record_on(uow, conn, context, event)


async def _record_on(uow: UnitOfWorkFactory, conn: Connection, context: EventContext, event: DomainEvent) -> int:
    stream = support_requests_stream(context.customer_number)
    for _ in range(20):
        version = await conn.fetchval(
            "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1", stream
        )
        try:
            recorded = await uow.store.append(stream, version, [event], context, conn=conn)
        except ConcurrencyConflict:
            continue
        return recorded[-1].stream_version
    raise ConcurrencyConflict(stream, -1)
