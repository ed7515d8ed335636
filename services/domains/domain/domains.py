"""The domain aggregate: one registered domain name and everything booked on it.

State is a fold over the domain's stream (`fold`); each command is a pure `decide_*` function
from the current state, the customer asking, the inputs (already validated names) and `now` to
the new events. Rules:

* A name belongs to one customer at a time. It can be registered when it never was, or when the
  previous contract ended (its cancellation took effect); re-registering starts from nothing.
* Everything else needs the domain to belong to the asking customer (else: unknown, 404, so a
  customer learns nothing of another's domains) and its contract not to have ended (409).
* A cancellation takes effect at the end of `effective_on` (UTC): by default the last day of
  the current month; a chosen date may not lie in the past nor more than two years ahead.
  Until then the domain works as before, and the cancellation can be withdrawn (up to and on
  its last day); withdrawing when none is pending changes nothing.
* Vhosts and redirect sources are the domain itself or its subdomains. Deleting a vhost deletes
  its mailboxes. A redirect must not point at its own source host (every path of the source
  redirects, so that would loop). Setting the redirect a source already has changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

from services.domains.domain.errors import (
    AlreadyExists,
    ChangedMeanwhile,
    ContractEnded,
    DomainUnavailable,
    InvalidName,
    UnknownDomain,
)
from services.domains.domain.events import (
    DomainCancellationRequested,
    DomainCancellationWithdrawn,
    DomainRegistered,
    FtpCredentialsReissued,
    MailboxCreated,
    MailboxDeleted,
    MailboxPasswordLinkSent,
    MailboxPasswordSet,
    RedirectRemoved,
    RedirectSet,
    VhostCreated,
    VhostDeleted,
)
from services.domains.domain.names import HostName
from services.domains.domain.urls import TargetUrl
from shared.content_tags import content_tag, still_as_read
from shared.envelope import DomainEvent
from shared.errors import InvalidRequest, NotFound

MAX_CANCELLATION_LEAD = timedelta(days=730)
MAX_VHOSTS = 1000
MAX_MAILBOXES = 5000
MAX_REDIRECTS = 1000


def stream_id(domain: str) -> str:
    return f"domain-{domain}"


@dataclass(frozen=True, slots=True)
class Mailbox:
    mailbox_id: uuid.UUID
    address: str
    vhost: str
    link_sent_to: str = ""  # where the last one-time password link went


@dataclass(frozen=True, slots=True)
class Redirect:
    source_host: str
    target_url: str
    permanent: bool

    def tag(self) -> str:
        """Its ETag (in the domain's GET): If-Match with it refuses a change made after the read."""
        return content_tag(self.target_url, self.permanent)


@dataclass(frozen=True)
class Domain:
    name: str
    unicode_name: str
    customer_number: str
    ftp_username: str
    cancellation_effective_on: date | None = None
    vhosts: frozenset[str] = frozenset()
    mailboxes: Mapping[str, Mailbox] = field(default_factory=dict)  # by address
    redirects: Mapping[str, Redirect] = field(default_factory=dict)  # by source host

    def ended(self, now: datetime) -> bool:
        """The cancellation has taken effect (after the last day of service)."""
        return self.cancellation_effective_on is not None and today(now) > self.cancellation_effective_on


def today(now: datetime) -> date:
    return now.astimezone(UTC).date()


def last_day_of_month(day: date) -> date:
    first_of_next = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first_of_next - timedelta(days=1)


def evolve(state: Domain | None, event: DomainEvent) -> Domain | None:
    if isinstance(event, DomainRegistered):
        return Domain(event.domain, event.unicode_name, event.customer_number, event.ftp_username)
    if state is None:
        return None  # nothing else can happen to a name never registered
    if isinstance(event, DomainCancellationRequested):
        return replace(state, cancellation_effective_on=event.effective_on)
    if isinstance(event, DomainCancellationWithdrawn):
        return replace(state, cancellation_effective_on=None)
    if isinstance(event, VhostCreated):
        return replace(state, vhosts=state.vhosts | {event.vhost})
    if isinstance(event, VhostDeleted):
        return replace(state, vhosts=state.vhosts - {event.vhost})
    if isinstance(event, MailboxCreated):
        mailbox = Mailbox(event.mailbox_id, event.address, event.vhost, event.password_link_sent_to)
        return replace(state, mailboxes={**state.mailboxes, event.address: mailbox})
    if isinstance(event, MailboxPasswordLinkSent) and event.address in state.mailboxes:
        mailbox = replace(state.mailboxes[event.address], link_sent_to=event.sent_to)
        return replace(state, mailboxes={**state.mailboxes, event.address: mailbox})
    if isinstance(event, MailboxDeleted):
        return replace(state, mailboxes={a: m for a, m in state.mailboxes.items() if a != event.address})
    if isinstance(event, RedirectSet):
        redirect = Redirect(event.source_host, event.target_url, event.permanent)
        return replace(state, redirects={**state.redirects, event.source_host: redirect})
    if isinstance(event, RedirectRemoved):
        return replace(state, redirects={s: r for s, r in state.redirects.items() if s != event.source_host})
    return state  # FtpCredentialsReissued, MailboxPasswordSet: nothing the rules look at


def fold(events: Iterable[DomainEvent]) -> Domain | None:
    state: Domain | None = None
    for event in events:
        state = evolve(state, event)
    return state


def in_force(state: Domain | None, customer_number: str, now: datetime) -> Domain:
    """The customer's domain, with its contract running; else UnknownDomain / ContractEnded."""
    if state is None or state.customer_number != customer_number:
        raise UnknownDomain("no such domain")
    if state.ended(now):
        raise ContractEnded(f"the contract for {state.name} ended on {state.cancellation_effective_on}")
    return state


def decide_register(state: Domain | None, name: HostName, customer_number: str, now: datetime) -> list[DomainEvent]:
    if state is not None and not state.ended(now):
        if state.customer_number == customer_number:
            raise DomainUnavailable(f"{name.ascii} is registered for you already")
        raise DomainUnavailable(f"{name.ascii} is not available")
    return [DomainRegistered(name.ascii, name.unicode, customer_number, ftp_username=name.ascii)]


def decide_cancel(
    state: Domain | None, customer_number: str, effective_on: date | None, now: datetime
) -> list[DomainEvent]:
    domain = in_force(state, customer_number, now)
    if domain.cancellation_effective_on is not None:
        raise AlreadyExists(f"a cancellation effective on {domain.cancellation_effective_on} was requested already")
    first_possible = today(now)
    wanted = effective_on or last_day_of_month(first_possible)
    if wanted < first_possible:
        raise InvalidRequest("the effective date lies in the past")
    if wanted > first_possible + MAX_CANCELLATION_LEAD:
        raise InvalidRequest("the effective date lies more than two years ahead")
    return [DomainCancellationRequested(domain.name, customer_number, wanted)]


def decide_withdraw_cancellation(state: Domain | None, customer_number: str, now: datetime) -> list[DomainEvent]:
    domain = in_force(state, customer_number, now)  # (after its last day it is too late: 409)
    if domain.cancellation_effective_on is None:
        return []
    return [DomainCancellationWithdrawn(domain.name, customer_number, domain.cancellation_effective_on)]


def decide_create_vhost(
    state: Domain | None, customer_number: str, vhost: HostName, now: datetime
) -> list[DomainEvent]:
    domain = in_force(state, customer_number, now)
    _within(vhost, domain, "vhost")
    if vhost.ascii in domain.vhosts:
        raise AlreadyExists(f"the vhost {vhost.ascii} exists already")
    if len(domain.vhosts) >= MAX_VHOSTS:
        raise InvalidRequest(f"a domain has at most {MAX_VHOSTS} vhosts")
    return [VhostCreated(domain.name, vhost.ascii)]


def decide_delete_vhost(
    state: Domain | None, customer_number: str, vhost: HostName, now: datetime
) -> list[DomainEvent]:
    domain = in_force(state, customer_number, now)
    if vhost.ascii not in domain.vhosts:
        raise NotFound("no such vhost")
    mailboxes = sorted((m for m in domain.mailboxes.values() if m.vhost == vhost.ascii), key=lambda m: m.address)
    deleted: list[DomainEvent] = [MailboxDeleted(domain.name, m.vhost, m.mailbox_id, m.address) for m in mailboxes]
    return [*deleted, VhostDeleted(domain.name, vhost.ascii)]


def decide_create_mailbox(
    state: Domain | None,
    customer_number: str,
    vhost: HostName,
    local_part: str,
    mailbox_id: uuid.UUID,
    link_sent_to: str,
    now: datetime,
) -> list[DomainEvent]:
    domain = in_force(state, customer_number, now)
    if vhost.ascii not in domain.vhosts:
        raise NotFound("no such vhost")
    address = f"{local_part}@{vhost.ascii}"
    if address in domain.mailboxes:
        raise AlreadyExists(f"the mailbox {address} exists already")
    if len(domain.mailboxes) >= MAX_MAILBOXES:
        raise InvalidRequest(f"a domain has at most {MAX_MAILBOXES} mailboxes")
    return [MailboxCreated(domain.name, vhost.ascii, mailbox_id, address, link_sent_to)]


def decide_delete_mailbox(
    state: Domain | None, customer_number: str, vhost: HostName, local_part: str, now: datetime
) -> list[DomainEvent]:
    domain = in_force(state, customer_number, now)
    mailbox = domain.mailboxes.get(f"{local_part}@{vhost.ascii}")
    if mailbox is None:
        raise NotFound("no such mailbox")
    return [MailboxDeleted(domain.name, mailbox.vhost, mailbox.mailbox_id, mailbox.address)]


def decide_send_mailbox_password_link(
    state: Domain | None, customer_number: str, vhost: HostName, local_part: str, to: str | None, now: datetime
) -> list[DomainEvent]:
    """A new link for the mailbox's owner, to where the last one went unless `to` says otherwise;
    before or after a password was set (setting again replaces it)."""
    domain = in_force(state, customer_number, now)
    mailbox = domain.mailboxes.get(f"{local_part}@{vhost.ascii}")
    if mailbox is None:
        raise NotFound("no such mailbox")
    return [
        MailboxPasswordLinkSent(
            domain.name, mailbox.vhost, mailbox.mailbox_id, mailbox.address, to or mailbox.link_sent_to
        )
    ]


def decide_set_mailbox_password(
    state: Domain | None, mailbox_id: uuid.UUID, address: str, now: datetime
) -> list[DomainEvent]:
    """Through a one-time link: valid only while that very mailbox exists and the contract runs."""
    mailbox = state.mailboxes.get(address) if state is not None and not state.ended(now) else None
    if state is None or mailbox is None or mailbox.mailbox_id != mailbox_id:
        raise NotFound("no such mailbox")
    return [MailboxPasswordSet(state.name, mailbox_id, address)]


def decide_set_redirect(
    state: Domain | None,
    customer_number: str,
    source: HostName,
    target: TargetUrl,
    permanent: bool,
    now: datetime,
    expected_tag: str | None = None,  # If-Match: the redirect's tag as the client read it
) -> list[DomainEvent]:
    domain = in_force(state, customer_number, now)
    _within(source, domain, "source host")
    if target.host.ascii == source.ascii:
        raise InvalidName("the target URL points at the source host itself (the redirect would loop)")
    current = domain.redirects.get(source.ascii)
    _ensure_as_read(current, expected_tag, source)
    if current is not None and current.target_url == target.url and current.permanent == permanent:
        return []
    if current is None and len(domain.redirects) >= MAX_REDIRECTS:
        raise InvalidRequest(f"a domain has at most {MAX_REDIRECTS} redirects")
    return [RedirectSet(domain.name, source.ascii, target.url, permanent)]


def decide_remove_redirect(
    state: Domain | None, customer_number: str, source: HostName, now: datetime, expected_tag: str | None = None
) -> list[DomainEvent]:
    """`expected_tag`: If-Match, as for a change: a redirect changed since that read is not removed."""
    domain = in_force(state, customer_number, now)
    current = domain.redirects.get(source.ascii)
    if current is None:
        raise NotFound("no such redirect")
    _ensure_as_read(current, expected_tag, source)
    return [RedirectRemoved(domain.name, source.ascii)]


def _ensure_as_read(current: Redirect | None, expected_tag: str | None, source: HostName) -> None:
    if not still_as_read(expected_tag, current.tag() if current is not None else None):
        raise ChangedMeanwhile(f"the redirect of {source.ascii} changed after it was read (If-Match): read it again")


def decide_reissue_ftp(
    state: Domain | None,
    customer_number: str,
    sent_to: str,
    contact_id: uuid.UUID | None,
    owner_notified: bool,
    now: datetime,
) -> list[DomainEvent]:
    domain = in_force(state, customer_number, now)
    return [FtpCredentialsReissued(domain.name, domain.ftp_username, sent_to, contact_id, owner_notified)]


def _within(host: HostName, domain: Domain, what: str) -> None:
    if not host.is_within(domain.name):
        raise InvalidName(f"the {what} {host.ascii} is not {domain.name} or one of its subdomains")
