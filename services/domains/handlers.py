"""Command handlers: load the domain's stream, decide (pure), append, in one unit of work.

Authorization has been settled by the caller (`api/acting.py`) and travels in the envelope's
metadata. Private rows (hashes, one-time links) are written in the same transaction as the
events. Mail that carries a secret is sent after the append and before the commit: if the mail
cannot be delivered nothing is recorded (503, ask again); if the commit failed after sending, the
mailed link or password never becomes valid (only its hash would have made it so).

Commands that write nothing but their events (vhosts, redirects, cancellations) run on the one
connection the request holds, without an explicit transaction: the stream is read, the decision
taken, and the events appended by a single INSERT, which is atomic by itself and refuses a
stale expected version exactly like an append inside a transaction would. That saves BEGIN,
COMMIT and a second connection per command (see `bench/domains.py`).

Commands re-run on a fresh state when a concurrent command on the same domain won the race for
the stream version (the decision is taken again, so no rule is bypassed).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import structlog

from services.domains import queries
from services.domains.adapters import mail_texts
from services.domains.adapters.secrets import new_ftp_password, new_link_token, token_digest
from services.domains.domain import domains as rules
from services.domains.domain.authority import ActingKind, Authority
from services.domains.domain.domains import Domain
from services.domains.domain.names import HostName
from services.domains.domain.urls import TargetUrl
from services.domains.runtime import DomainsRuntime
from shared.customers import reference_email
from shared.db import Connection
from shared.envelope import DomainEvent, EventContext, RecordedEvent
from shared.errors import ConcurrencyConflict, Conflict, InvalidRequest, NotFound
from shared.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger(__name__)

ATTEMPTS = 5

Decide = Callable[[Domain | None], list[DomainEvent]]
SideEffect = Callable[[UnitOfWork, Sequence[RecordedEvent]], Awaitable[None]]


class InvalidLink(InvalidRequest):
    title = "Invalid link"


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
                    events = decide(rules.fold(registry.decode(e) for e in loaded.events))
                    if not events:
                        return Outcome((), loaded.version)
                    recorded = await tx.append(stream, loaded.version, events, context)
                    if side is not None:
                        await side(tx, recorded)
                    await tx.commit()
                    return Outcome(recorded, recorded[-1].stream_version)
            except ConcurrencyConflict:
                if attempt >= ATTEMPTS:
                    raise


async def on_domain_direct(
    rt: DomainsRuntime, conn: Connection, domain: str, context: EventContext, decide: Decide
) -> Outcome:
    """One decision on a domain's stream, appended by one statement on `conn` (no side effects).

    The state comes from `rt.states` (folded before, plus whatever was appended since).
    """
    stream = rules.stream_id(domain)
    attempt = 0
    async with rt.states.turn(stream):
        while True:
            attempt += 1
            known = await rt.states.current(conn, stream)
            events = decide(known.state)
            if not events:
                return Outcome((), known.version)
            try:
                recorded = await rt.uow.store.append(
                    stream, known.version, events, context, conn=conn, previous_hash=known.head
                )
            except ConcurrencyConflict:  # another replica won: decide again on the newer state
                if attempt >= ATTEMPTS:
                    raise
                continue
            rt.states.appended(stream, known, events, recorded)
            return Outcome(recorded, recorded[-1].stream_version)


async def load_domain(uow: UnitOfWorkFactory, domain: str) -> tuple[Domain | None, int]:
    stream = await uow.store.load(rules.stream_id(domain))
    return rules.fold(uow.store.registry.decode(e) for e in stream.events), stream.version


async def register_domain(rt: DomainsRuntime, name: HostName, context: EventContext) -> Outcome:
    async def forget_previous_secrets(tx: UnitOfWork, _: Sequence[RecordedEvent]) -> None:
        # A name registered again starts from nothing, secrets of the previous contract included.
        for table in ("ftp_credentials", "mailbox_passwords", "mailbox_password_links"):
            await tx.connection.execute(f"DELETE FROM {table} WHERE domain = $1", name.ascii)  # noqa: S608

    n, now = context.customer_number, context.occurred_at
    return await on_domain(
        rt, name.ascii, context, lambda s: rules.decide_register(s, name, n, now), forget_previous_secrets
    )


async def cancel_domain(
    rt: DomainsRuntime, conn: Connection, domain: str, effective_on: date | None, context: EventContext
) -> Outcome:
    n, now = context.customer_number, context.occurred_at
    return await on_domain_direct(rt, conn, domain, context, lambda s: rules.decide_cancel(s, n, effective_on, now))


async def create_vhost(
    rt: DomainsRuntime, conn: Connection, domain: str, vhost: HostName, context: EventContext
) -> Outcome:
    n, now = context.customer_number, context.occurred_at
    return await on_domain_direct(rt, conn, domain, context, lambda s: rules.decide_create_vhost(s, n, vhost, now))


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


async def create_mailbox(
    rt: DomainsRuntime, domain: str, vhost: HostName, local_part: str, owner_email: str, context: EventContext
) -> tuple[uuid.UUID, str, Outcome]:
    """Create the mailbox and mail its owner a one-time link to choose the password."""
    n, now = context.customer_number, context.occurred_at
    mailbox_id = uuid.uuid4()
    token = new_link_token()
    expires_at = now + rt.settings.password_link_ttl

    async def store_and_send_link(tx: UnitOfWork, recorded: Sequence[RecordedEvent]) -> None:
        address = str(recorded[-1].data["address"])
        await tx.connection.execute(
            "INSERT INTO mailbox_password_links (token_hash, customer_number, domain, mailbox_id, address,"
            " created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            token_digest(token),
            n,
            domain,
            mailbox_id,
            address,
            now,
            expires_at,
        )
        await rt.mailer.send(
            mail_texts.mailbox_password_link(
                sender=rt.settings.mail_from,
                to=owner_email,
                address=address,
                portal_url=rt.portal_url,
                token=token,
                expires_at=expires_at,
            )
        )

    outcome = await on_domain(
        rt,
        domain,
        context,
        lambda s: rules.decide_create_mailbox(s, n, vhost, local_part, mailbox_id, owner_email, now),
        store_and_send_link,
    )
    log.info("mailbox_password_link_sent", mailbox_id=str(mailbox_id), domain=domain)
    return mailbox_id, f"{local_part}@{vhost.ascii}", outcome


async def set_redirect(
    rt: DomainsRuntime,
    conn: Connection,
    domain: str,
    source: HostName,
    target: TargetUrl,
    permanent: bool,
    context: EventContext,
) -> Outcome:
    n, now = context.customer_number, context.occurred_at
    return await on_domain_direct(
        rt, conn, domain, context, lambda s: rules.decide_set_redirect(s, n, source, target, permanent, now)
    )


async def remove_redirect(
    rt: DomainsRuntime, conn: Connection, domain: str, source: HostName, context: EventContext
) -> Outcome:
    n, now = context.customer_number, context.occurred_at
    return await on_domain_direct(rt, conn, domain, context, lambda s: rules.decide_remove_redirect(s, n, source, now))


@dataclass(frozen=True, slots=True)
class FtpRecipients:
    to: str
    sent_to: str  # account_owner | requesting_contact
    contact_id: uuid.UUID | None
    recipient_label: str  # for the owner's notice: "Ada Lovelace <ada@example.org>"
    owner_notice_to: str | None


async def _ftp_recipients(rt: DomainsRuntime, customer_number: str, authority: Authority) -> FtpRecipients:
    owner_email = await reference_email(rt.pool, customer_number)
    if authority.acting is ActingKind.ACCOUNT_OWNER:
        if owner_email is None:
            raise Conflict("there is no reference e-mail address on file to send the credentials to")
        return FtpRecipients(owner_email, "account_owner", None, owner_email, None)
    contact_id = authority.contact_id
    contact = await queries.current_contact(rt.pool, customer_number, contact_id) if contact_id else None
    if contact is None:  # judge() lets credentials through only for a granted, current contact
        raise Conflict("the requester has no e-mail address on file")
    name, email = contact
    return FtpRecipients(email, "requesting_contact", contact_id, f"{name} <{email}>", owner_email)


async def reissue_ftp_credentials(
    rt: DomainsRuntime, domain: str, authority: Authority, context: EventContext
) -> tuple[FtpRecipients, Outcome]:
    """New FTP password: mailed to the requester (owner or granted contact) and hashed; never shown."""
    n, now = context.customer_number, context.occurred_at
    recipients = await _ftp_recipients(rt, n, authority)
    password = new_ftp_password()
    password_hash = await rt.hasher.hash(password)

    async def store_and_send(tx: UnitOfWork, recorded: Sequence[RecordedEvent]) -> None:
        username = str(recorded[-1].data["username"])
        await tx.connection.execute(
            "INSERT INTO ftp_credentials (domain, customer_number, username, password_hash, issued_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (domain) DO UPDATE SET"
            " customer_number = EXCLUDED.customer_number, username = EXCLUDED.username,"
            " password_hash = EXCLUDED.password_hash, issued_at = EXCLUDED.issued_at",
            domain,
            n,
            username,
            password_hash,
            now,
        )
        sender = rt.settings.mail_from
        await rt.mailer.send(
            mail_texts.ftp_credentials(
                sender=sender, to=recipients.to, domain=domain, username=username, password=password
            )
        )
        if recipients.owner_notice_to is not None:
            notice = mail_texts.ftp_owner_notice(
                sender=sender,
                to=recipients.owner_notice_to,
                domain=domain,
                recipient=recipients.recipient_label,
                agent=authority.actor.id,
            )
            await rt.mailer.send(notice)

    outcome = await on_domain(
        rt,
        domain,
        context,
        lambda s: rules.decide_reissue_ftp(
            s, n, recipients.sent_to, recipients.contact_id, recipients.owner_notice_to is not None, now
        ),
        store_and_send,
    )
    return recipients, outcome


async def set_mailbox_password(
    rt: DomainsRuntime, token: str, password: str, context_for: Callable[[str, datetime], EventContext]
) -> None:
    """The mailbox owner's one-time link: single use, until it expires, only for that mailbox."""
    digest = token_digest(token)
    now = rt.clock.now()
    link = await rt.pool.fetchrow(
        "SELECT customer_number, domain, mailbox_id, address FROM mailbox_password_links"
        " WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        digest,
        now,
    )
    if link is None:
        raise InvalidLink("the link is invalid, was used already or has expired")
    # Hash only for a live link: an unauthenticated caller cannot make us burn CPU for nothing.
    password_hash = await rt.hasher.hash(password)
    mailbox_id: uuid.UUID = link["mailbox_id"]

    async def claim_and_store(tx: UnitOfWork, _: Sequence[RecordedEvent]) -> None:
        claimed = await tx.connection.execute(
            "UPDATE mailbox_password_links SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL"
            " AND expires_at > $2",
            digest,
            now,
        )
        if claimed != "UPDATE 1":  # a concurrent use of the same link won
            raise InvalidLink("the link is invalid, was used already or has expired")
        await tx.connection.execute(
            "INSERT INTO mailbox_passwords (mailbox_id, domain, address, password_hash, set_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (mailbox_id) DO UPDATE SET"
            " password_hash = EXCLUDED.password_hash, set_at = EXCLUDED.set_at",
            mailbox_id,
            link["domain"],
            link["address"],
            password_hash,
            now,
        )

    def decide(state: Domain | None) -> list[DomainEvent]:
        try:
            return rules.decide_set_mailbox_password(state, mailbox_id, link["address"], now)
        except NotFound:
            raise InvalidLink("the link is invalid, was used already or has expired") from None

    context = context_for(link["customer_number"], now)
    await on_domain(rt, link["domain"], context, decide, claim_and_store)
    log.info("mailbox_password_set", mailbox_id=str(mailbox_id), domain=link["domain"])


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
