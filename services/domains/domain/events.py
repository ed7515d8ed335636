"""Events of the domains service, published on `domains.events`.

Streams (the Kafka key is always the customer number):

    domain-<ascii name>       one registered domain and everything booked on it: vhosts,
                              mailboxes, redirects, FTP access, cancellation. A name has one
                              stream for all time, so it can be registered by one customer at a
                              time (the expected version decides a race), and again after its
                              contract ended.
    support-requests-<n>      what support asked for on a contact's behalf and was refused, and
                              the contract lists support handed out (audit; never contends with
                              changes to domains)

How a command was authorized is in the envelope's metadata, not in the data (see
`domain/authority.py`): `acting` (account_owner | support_on_behalf), `on_behalf_of`, `contact_id`,
`authorization` (account_owner | allowed | best_knowledge), `scope`, `grant_id`, `reasons`.
No event carries a password, a link token or a hash.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from shared.envelope import DomainEvent
from shared.registry import EventRegistry

registry = EventRegistry()


@registry.register("DomainRegistered", version=1)
@dataclass(frozen=True)
class DomainRegistered(DomainEvent):
    domain: str  # ASCII form (A-labels), the identity
    unicode_name: str  # for display
    customer_number: str
    ftp_username: str


@registry.register("DomainCancellationRequested", version=1)
@dataclass(frozen=True)
class DomainCancellationRequested(DomainEvent):
    domain: str
    customer_number: str
    effective_on: date  # the last day the domain's services run (UTC)


@registry.register("DomainCancellationWithdrawn", version=1)
@dataclass(frozen=True)
class DomainCancellationWithdrawn(DomainEvent):
    """The pending cancellation no longer applies: the domain runs on as before."""

    domain: str
    customer_number: str
    effective_on: date  # the last day of service the withdrawn cancellation had set


@registry.register("VhostCreated", version=1)
@dataclass(frozen=True)
class VhostCreated(DomainEvent):
    domain: str
    vhost: str  # the domain itself or a subdomain (ASCII form)


@registry.register("VhostDeleted", version=1)
@dataclass(frozen=True)
class VhostDeleted(DomainEvent):
    domain: str
    vhost: str


@registry.register("MailboxCreated", version=1)
@dataclass(frozen=True)
class MailboxCreated(DomainEvent):
    domain: str
    vhost: str
    mailbox_id: uuid.UUID
    address: str  # local part @ vhost
    password_link_sent_to: str  # where the one-time link to set the password went


@registry.register("MailboxPasswordLinkSent", version=1)
@dataclass(frozen=True)
class MailboxPasswordLinkSent(DomainEvent):
    """A new one-time link to choose the mailbox's password (a lost first link, or a forgotten password);
    earlier unused links of the mailbox no longer work."""

    domain: str
    vhost: str
    mailbox_id: uuid.UUID
    address: str
    sent_to: str


@registry.register("MailboxDeleted", version=1)
@dataclass(frozen=True)
class MailboxDeleted(DomainEvent):
    domain: str
    vhost: str
    mailbox_id: uuid.UUID
    address: str


@registry.register("MailboxPasswordSet", version=1)
@dataclass(frozen=True)
class MailboxPasswordSet(DomainEvent):
    """The mailbox owner set the password through the one-time link (the password stays private)."""

    domain: str
    mailbox_id: uuid.UUID
    address: str


@registry.register("RedirectSet", version=1)
@dataclass(frozen=True)
class RedirectSet(DomainEvent):
    domain: str
    source_host: str
    target_url: str
    permanent: bool  # 301 when true, 302 otherwise


@registry.register("RedirectRemoved", version=1)
@dataclass(frozen=True)
class RedirectRemoved(DomainEvent):
    domain: str
    source_host: str


@registry.register("FtpCredentialsReissued", version=1)
@dataclass(frozen=True)
class FtpCredentialsReissued(DomainEvent):
    """New FTP credentials were mailed; the password itself went only into that e-mail."""

    domain: str
    username: str
    sent_to: str  # "account_owner" or "requesting_contact"
    contact_id: uuid.UUID | None  # the contact they were mailed to, when not the account owner
    owner_notified: bool  # the account owner got a notice (without the password)


@registry.register("SupportRequestRefused", version=1)
@dataclass(frozen=True)
class SupportRequestRefused(DomainEvent):
    """Support asked on a requester's behalf and the authorization read model said no."""

    customer_number: str
    agent: str  # staff:<name>
    on_behalf_of: str  # <kind>:<value> as resolved: contact_id:<uuid>, email:<address>, phone:<E.164>
    action: str  # the scope the operation needs (shared.scopes)
    reasons: tuple[str, ...]  # reason codes (shared.authorization.ReasonCode, plus grant_required)
    operation: str  # what was asked for: register_domain, set_redirect, ...
    target: str | None  # the domain or host it concerned
    contact_id: uuid.UUID | None  # the contact the requester was recognised as, if any


@registry.register("ContractListProvided", version=1)
@dataclass(frozen=True)
class ContractListProvided(DomainEvent):
    """Support handed the customer's contract list to a requester (who, on what authority)."""

    customer_number: str
    agent: str
    on_behalf_of: str
    contact_id: uuid.UUID | None
    authorization: str  # allowed | best_knowledge | written_instruction (then on_behalf_of is customer:<n>)
    grant_id: uuid.UUID | None
