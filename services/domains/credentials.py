"""Commands that make or use a secret: mailbox links, mailbox passwords, FTP credentials.

They run in a unit of work (`handlers.on_domain`): the hash of the secret is written with the
events, and the mail carrying the secret is sent after the append and before the commit (if it
cannot be delivered nothing is recorded; if the commit fails after sending, the mailed secret
never becomes valid, since only its stored hash would make it so). The clear secret exists only
in memory and in that e-mail.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from services.domains import queries
from services.domains.adapters import mail_texts
from services.domains.adapters.secrets import new_ftp_password, new_link_token, token_digest
from services.domains.domain import domains as rules
from services.domains.domain.authority import Authority
from services.domains.domain.domains import Domain
from services.domains.domain.names import HostName
from services.domains.handlers import Outcome, on_domain
from services.domains.runtime import DomainsRuntime
from shared.customers import reference_email
from shared.envelope import DomainEvent, EventContext, RecordedEvent
from shared.errors import Conflict, InvalidRequest, NotFound
from shared.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)


class InvalidLink(InvalidRequest):
    title = "Invalid link"


@dataclass(frozen=True, slots=True)
class LinkSent:
    mailbox_id: uuid.UUID
    address: str
    sent_to: str
    outcome: Outcome


def _link_of(recorded: Sequence[RecordedEvent]) -> tuple[uuid.UUID, str, str]:
    """Mailbox id, address and the link's recipient, from a `MailboxCreated` or `MailboxPasswordLinkSent`."""
    data = recorded[-1].data
    sent_to = data["sent_to"] if "sent_to" in data else data["password_link_sent_to"]
    return uuid.UUID(str(data["mailbox_id"])), str(data["address"]), str(sent_to)


def _link_sent(outcome: Outcome) -> LinkSent:
    return LinkSent(*_link_of(outcome.recorded), outcome)


def _password_link(
    rt: DomainsRuntime, domain: str, context: EventContext
) -> Callable[[UnitOfWork, Sequence[RecordedEvent]], Awaitable[None]]:
    """What the unit of work does after the event that names the mailbox and the link's recipient
    (`password_link_sent_to` or `sent_to`): void the mailbox's earlier unused links, store the new
    link's hash, mail the link."""
    n, now = context.customer_number, context.occurred_at
    token = new_link_token()
    expires_at = now + rt.settings.password_link_ttl

    async def store_and_send(tx: UnitOfWork, recorded: Sequence[RecordedEvent]) -> None:
        mailbox_id, address, to = _link_of(recorded)
        await tx.connection.execute(
            "UPDATE mailbox_password_links SET expires_at = $2 WHERE mailbox_id = $1 AND used_at IS NULL"
            " AND expires_at > $2",
            mailbox_id,
            now,
        )
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
                to=to,
                address=address,
                portal_url=rt.portal_url,
                token=token,
                expires_at=expires_at,
            )
        )
        log.info("mailbox_password_link_sent", mailbox_id=str(mailbox_id), domain=domain)

    return store_and_send


async def create_mailbox(
    rt: DomainsRuntime, domain: str, vhost: HostName, local_part: str, owner_email: str, context: EventContext
) -> LinkSent:
    """Create the mailbox and mail its owner a one-time link to choose the password."""
    n, now = context.customer_number, context.occurred_at
    mailbox_id = uuid.uuid4()
    outcome = await on_domain(
        rt,
        domain,
        context,
        lambda s: rules.decide_create_mailbox(s, n, vhost, local_part, mailbox_id, owner_email, now),
        _password_link(rt, domain, context),
    )
    return _link_sent(outcome)


async def send_mailbox_password_link(
    rt: DomainsRuntime, domain: str, vhost: HostName, local_part: str, to: str | None, context: EventContext
) -> LinkSent:
    """A new one-time link for the mailbox's owner (the first one lost, or the password forgotten);
    the mailbox's earlier unused links stop working."""
    n, now = context.customer_number, context.occurred_at
    outcome = await on_domain(
        rt,
        domain,
        context,
        lambda s: rules.decide_send_mailbox_password_link(s, n, vhost, local_part, to, now),
        _password_link(rt, domain, context),
    )
    return _link_sent(outcome)


@dataclass(frozen=True, slots=True)
class FtpRecipients:
    to: str
    sent_to: str  # account_owner | requesting_contact
    contact_id: uuid.UUID | None
    recipient_label: str  # for the owner's notice: "Ada Lovelace <ada@example.org>"
    owner_notice_to: str | None


async def _ftp_recipients(rt: DomainsRuntime, customer_number: str, authority: Authority) -> FtpRecipients:
    owner_email = await reference_email(rt.pool, customer_number)
    if authority.for_the_owner:  # (credentials on the owner's letter go to the owner, never to support)
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
