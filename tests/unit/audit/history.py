"""Generated cross-service histories for the audit's tests, made with the services' own rules.

Contacts' changes go through its pure domain (`decide_*`), so every history is one contacts could
have recorded; support's checks, billing's and domains' actions on a requester's behalf are
decided with the shared `decide` over the authorizations as they stand at that moment and turned
into events and metadata with billing's and domains' own authority code. The result is a list of
appends (service, stream, events, envelope) in time order, which tests either write through a
real event store (and the relay) or turn into `RecordedEvent`s directly.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from services.billing.domain import authority as billing_authority
from services.billing.domain import invoice_email
from services.billing.domain.events import InvoiceEmailChanged
from services.contacts.domain import authorizations as grants
from services.contacts.domain import contacts
from services.contacts.domain.acting import Acting
from services.contacts.domain.events import AuthorizationChecked
from services.domains.domain import authority as domains_authority
from services.domains.domain import domains as domains_rules
from services.domains.domain.events import (
    ContractListProvided,
    DomainRegistered,
    FtpCredentialsReissued,
    MailboxCreated,
    RedirectSet,
)
from services.domains.domain.events import SupportRequestRefused as DomainsRefused
from shared.authorization.decision import decide
from shared.authorization.identifiers import Requester, RequesterKind
from shared.authorization.memory import AuthorizationMemory
from shared.envelope import Actor, ActorKind, DomainEvent, EventContext, RecordedEvent
from shared.errors import DomainError
from shared.registry import EventRegistry
from shared.scopes import Scope

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
SCOPES: list[Scope] = [s for s in Scope if s is not Scope.ALL]
AGENTS = ["sam", "kim", "lee"]

# What domains needs for which operation (as its routes ask `authorize`).
DOMAIN_OPERATIONS: list[tuple[str, Scope]] = [
    ("create_mailbox", Scope.MANAGE_MAILBOXES),
    ("set_redirect", Scope.CHANGE_DNS),
    ("reissue_ftp_credentials", Scope.REQUEST_CREDENTIALS),
    ("list_contracts", Scope.VIEW_CONTRACTS),
]


@dataclass(frozen=True)
class Append:
    service: str
    stream_id: str
    events: list[DomainEvent]
    context: EventContext


@dataclass
class _Customer:
    number: str
    state: contacts.CustomerContacts = field(default_factory=contacts.CustomerContacts)
    contact_ids: list[uuid.UUID] = field(default_factory=list)
    grant_ids: list[uuid.UUID] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    domain: str | None = None
    invoice_email: str | None = None
    mailboxes: int = 0


class HistoryGenerator:
    def __init__(self, seed: int, customers: list[str], start: datetime = START) -> None:
        self.rng = random.Random(seed)
        self.now = start
        self.customers = [_Customer(n) for n in customers]
        self.memory = AuthorizationMemory()  # what every service's copy knows at `now`
        self.versions: dict[str, int] = {}
        self.appends: list[Append] = []
        self.recorded: list[tuple[str, RecordedEvent]] = []  # (service, event) as a store would record
        self.refused: dict[str, int] = {}
        self._registries = {
            "contacts": contacts_registry(),
            "billing": billing_registry(),
            "domains": domains_registry(),
        }

    # -- plumbing ------------------------------------------------------------------------------

    def _id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _context(self, n: str, actor: Actor, **metadata: object) -> EventContext:
        return EventContext(
            customer_number=n,
            actor=actor,
            occurred_at=self.now,
            correlation_id=self._id(),
            metadata={"request_id": self._id().hex[:16], **metadata},
        )

    def _append(self, service: str, stream_id: str, events: list[DomainEvent], context: EventContext) -> None:
        if not events:
            return
        self.appends.append(Append(service, stream_id, events, context))
        registry = self._registries[service]
        for event in events:
            self.versions[stream_id] = self.versions.get(stream_id, 0) + 1
            recorded = RecordedEvent(
                event_id=self._id(),
                event_type=event.event_type,
                schema_version=event.schema_version,
                stream_id=stream_id,
                stream_version=self.versions[stream_id],
                customer_number=context.customer_number,
                occurred_at=context.occurred_at,
                actor=context.actor,
                correlation_id=context.correlation_id,
                causation_id=None,
                data=registry.encode(event),
                metadata=dict(context.metadata),
            )
            self.recorded.append((service, recorded))
            if service == "contacts":
                self.memory.apply(recorded)

    def _contacts(self, c: _Customer, events: list[DomainEvent], acting: Acting) -> None:
        actor = (
            Actor(ActorKind.CUSTOMER, c.number)
            if acting.kind.value == "account_owner"
            else Actor(ActorKind.STAFF, self.rng.choice(AGENTS))
        )
        metadata: dict[str, object] = {"acting": acting.kind.value, "basis": acting.basis.value}
        if acting.contact_id is not None:
            metadata["on_behalf_of"] = str(acting.contact_id)
        for event in events:
            c.state = contacts.evolve(c.state, event)
        self._append("contacts", contacts.stream_id(c.number), events, self._context(c.number, actor, **metadata))

    def _requester(self, c: _Customer) -> tuple[Requester, str]:
        """Someone support hears from: mostly a known contact (by id or e-mail), sometimes a stranger."""
        roll = self.rng.random()
        if c.contact_ids and roll < 0.45:
            cid = self.rng.choice(c.contact_ids)
            return Requester(RequesterKind.CONTACT_ID, str(cid)), str(cid)
        if c.emails and roll < 0.85:
            email = self.rng.choice(c.emails)
            return Requester.heard(RequesterKind.EMAIL, email.upper()), email.upper()
        stranger = f"stranger{self.rng.randint(0, 9)}@elsewhere.example"
        return Requester.heard(RequesterKind.EMAIL, stranger), stranger

    # -- operations ----------------------------------------------------------------------------

    def step(self) -> None:
        self.now += timedelta(seconds=self.rng.randint(1, 5400))
        c = self.rng.choice(self.customers)
        op = self.rng.choices(
            ["add", "change", "grant", "revoke", "leave", "instruction", "check", "domains", "billing"],
            weights=[12, 3, 14, 6, 3, 3, 14, 14, 6],
        )[0]
        try:
            getattr(self, f"_{op}")(c)
        except DomainError as refused:
            self.refused[type(refused).__name__] = self.refused.get(type(refused).__name__, 0) + 1

    def _acting(self, c: _Customer) -> Acting:
        roll = self.rng.random()
        current = [p for p in c.contact_ids if not c.state.contacts[p].removed]
        if current and roll < 0.2:
            return Acting.contact(self.rng.choice(current))
        if roll < 0.45:
            return Acting.support(self.rng.choice(AGENTS))
        return Acting.account_owner(c.number)

    def _add(self, c: _Customer) -> None:
        cid = self._id()
        i = self.rng.randint(0, 30)
        email = f"p{i}@{c.number}.example"
        phone = f"030 {5550000 + self.rng.randint(0, 20)}" if self.rng.random() < 0.4 else None
        cmd = contacts.AddContact(c.number, f"Person {i}", email, phone)
        acting = self._acting(c)
        self._contacts(c, contacts.decide_add_contact(c.state, cmd, cid, acting, self.now), acting)
        c.contact_ids.append(cid)
        c.emails.append(email)

    def _change(self, c: _Customer) -> None:
        if not c.contact_ids:
            return
        cid = self.rng.choice(c.contact_ids)
        i = self.rng.randint(0, 30)
        email = f"p{i}@{c.number}.example"
        details = contacts.ContactDetails(f"Person {i}", email, None)
        acting = self._acting(c)
        self._contacts(
            c,
            contacts.decide_change_details(c.state, contacts.ChangeContactDetails(cid, details), acting, self.now),
            acting,
        )
        c.emails.append(email)

    def _grant(self, c: _Customer) -> None:
        if not c.contact_ids:
            return
        cid = self.rng.choice(c.contact_ids)
        scopes = frozenset(self.rng.sample(SCOPES, self.rng.randint(1, 3)))
        if self.rng.random() < 0.1:
            scopes = frozenset({Scope.ALL})
        start = self.now + timedelta(hours=self.rng.randint(1, 48)) if self.rng.random() < 0.15 else None
        until = (start or self.now) + timedelta(hours=self.rng.randint(1, 24 * 20)) if self.rng.random() < 0.4 else None
        gid = self._id()
        acting = self._acting(c)
        cmd = grants.AuthorizeContact(cid, scopes, start, until)
        self._contacts(c, grants.decide_authorize(c.state, cmd, acting, self.now, gid), acting)
        c.grant_ids.append(gid)

    def _revoke(self, c: _Customer) -> None:
        if not c.grant_ids:
            return
        acting = self._acting(c)
        cmd = grants.RevokeAuthorization(self.rng.choice(c.grant_ids), "no longer responsible")
        self._contacts(c, grants.decide_revoke(c.state, cmd, acting, self.now), acting)

    def _leave(self, c: _Customer) -> None:
        if not c.contact_ids:
            return
        cid = self.rng.choice(c.contact_ids)
        acting = self._acting(c)
        if self.rng.random() < 0.5:
            events = contacts.decide_contact_left(c.state, contacts.RecordContactLeft(cid), acting, self.now)
        else:
            events = contacts.decide_remove_contact(c.state, contacts.RemoveContact(cid), acting, self.now)
        self._contacts(c, events, acting)

    def _instruction(self, c: _Customer) -> None:
        owner = Acting.account_owner(c.number)
        if c.state.instruction is not None:
            events = grants.decide_withdraw_instruction(
                c.state, grants.WithdrawOfficialInstruction("customer asked"), owner
            )
        else:
            events = grants.decide_issue_instruction(
                c.state, grants.IssueOfficialInstruction(f"DOC-{self.rng.randint(1, 999)}"), owner
            )
        self._contacts(c, events, owner)

    def _check(self, c: _Customer, requester: tuple[Requester, str] | None = None, scope: Scope | None = None) -> None:
        who, heard = requester or self._requester(c)
        action = scope or self.rng.choice(SCOPES)
        agent = f"staff:{self.rng.choice(AGENTS)}"
        decision = decide(self.memory.view(c.number, who, self.now), action.value, self.now)
        ticket = f"T-{self.rng.randint(1000, 9999)}"
        event = AuthorizationChecked(
            check_id=self._id(),
            agent=agent,
            requester_kind=who.kind.value,
            requester=heard,
            requester_normalised=who.value,
            contact_id=decision.contact_id,
            action=decision.action,
            at=self.now,
            outcome=decision.outcome.value,
            reasons=decision.codes,
            grant_id=decision.grant_id,
            ticket_reference=ticket,
        )
        actor = Actor(ActorKind.STAFF, agent.removeprefix("staff:"))
        self._append(
            "contacts",
            f"customer-authorization-checks-{c.number}",
            [event],
            self._context(c.number, actor, ticket=ticket),
        )

    def _ensure_domain(self, c: _Customer) -> str:
        if c.domain is None:
            name = f"c{c.number}.example"
            owner = Actor(ActorKind.CUSTOMER, c.number)
            metadata = domains_authority.Authority.account_owner(owner, Scope.PLACE_ORDERS).metadata()
            event = DomainRegistered(
                domain=name, unicode_name=name, customer_number=c.number, ftp_username=f"u{c.number}"
            )
            self._append("domains", domains_rules.stream_id(name), [event], self._context(c.number, owner, **metadata))
            c.domain = name
            self.now += timedelta(seconds=1)
        return c.domain

    def _domains(self, c: _Customer) -> None:
        domain = self._ensure_domain(c)
        operation, scope = self.rng.choice(DOMAIN_OPERATIONS)
        who, heard = self._requester(c)
        if self.rng.random() < 0.6:
            self._check(c, (who, heard), scope)  # support checks first, most of the time
            self.now += timedelta(seconds=30)
        agent = Actor(ActorKind.STAFF, self.rng.choice(AGENTS))
        decision = decide(self.memory.view(c.number, who, self.now), scope.value, self.now)
        contacts_stream = contacts.stream_id(c.number)  # domains' generated copy is current
        copy = domains_authority.CopyVersion(contacts_stream, self.versions.get(contacts_stream, 0))
        verdict = domains_authority.judge(agent, who, scope, decision, copy)
        if isinstance(verdict, domains_authority.Refusal):
            label = domains_authority.requester_label(who)
            refused = DomainsRefused(
                customer_number=c.number,
                agent=str(agent),
                on_behalf_of=label,
                action=scope.value,
                reasons=verdict.codes,
                operation=operation,
                target=domain,
                contact_id=decision.contact_id,
            )
            metadata = {
                "acting": "support_on_behalf",
                "on_behalf_of": label,
                "authorization": "denied",
                "scope": scope.value,
                "authorization_version": copy.as_dict(),
            }
            self._append(
                "domains", f"support-requests-{c.number}", [refused], self._context(c.number, agent, **metadata)
            )
            return
        metadata = verdict.metadata()
        stream = domains_rules.stream_id(domain)
        event: DomainEvent
        if operation == "create_mailbox":
            c.mailboxes += 1
            event = MailboxCreated(
                domain=domain,
                vhost=domain,
                mailbox_id=self._id(),
                address=f"box{c.mailboxes}@{domain}",
                password_link_sent_to=f"owner@{c.number}.example",
            )
        elif operation == "set_redirect":
            event = RedirectSet(
                domain=domain,
                source_host=f"r{self.rng.randint(1, 9)}.{domain}",
                target_url="https://yx.de/",
                permanent=True,
            )
        elif operation == "reissue_ftp_credentials":
            event = FtpCredentialsReissued(
                domain=domain,
                username=f"u{c.number}",
                sent_to="requesting_contact",
                contact_id=decision.contact_id,
                owner_notified=True,
            )
        else:
            event = ContractListProvided(
                customer_number=c.number,
                agent=str(agent),
                on_behalf_of=domains_authority.requester_label(who),
                contact_id=decision.contact_id,
                authorization=verdict.basis,
                grant_id=decision.grant_id,
            )
            stream = f"support-requests-{c.number}"
        self._append("domains", stream, [event], self._context(c.number, agent, **metadata))

    def _billing_copy(self, c: _Customer) -> tuple[AuthorizationMemory, billing_authority.AuthorizationVersion | None]:
        """Billing's copy of the customer's authorizations as it decides: usually current, now and
        then one or two of contacts' latest events short (a copy that lags), and its version."""
        stream = contacts.stream_id(c.number)
        upto = max(0, self.versions.get(stream, 0) - self.rng.choice((0, 0, 0, 1, 2)))
        copy = AuthorizationMemory()
        last: RecordedEvent | None = None
        for service, recorded in self.recorded:
            if service == "contacts" and recorded.stream_id == stream and recorded.stream_version <= upto:
                copy.apply(recorded)
                last = recorded
        if last is None:
            return copy, None
        return copy, billing_authority.AuthorizationVersion(stream, last.stream_version, last.occurred_at)

    def _billing(self, c: _Customer) -> None:
        email = f"invoices{self.rng.randint(1, 99)}@{c.number}.example"
        if self.rng.random() < 0.3:
            authority = billing_authority.account_owner(c.number)
            actor = Actor(ActorKind.CUSTOMER, c.number)
        else:
            who, heard = self._requester(c)
            if self.rng.random() < 0.5:
                self._check(c, (who, heard), Scope.MANAGE_BILLING)
                self.now += timedelta(seconds=30)
            actor = Actor(ActorKind.STAFF, self.rng.choice(AGENTS))
            request = billing_authority.SupportRequest(
                str(actor),
                billing_authority.OnBehalfOf(who, heard),
                billing_authority.Operation.CHANGE_INVOICE_EMAIL,
                f"T-{self.rng.randint(1000, 9999)}",
            )
            copy, version = self._billing_copy(c)
            decision = decide(copy.view(c.number, who, self.now), Scope.MANAGE_BILLING.value, self.now)
            verdict = billing_authority.on_behalf(c.number, request, decision, version)
            if isinstance(verdict, billing_authority.Refusal):
                self._append(
                    "billing",
                    f"billing-refusals-{c.number}",
                    [verdict.event],
                    self._context(c.number, actor, **verdict.metadata),
                )
                return
            authority = verdict
        event = InvoiceEmailChanged(
            customer_number=c.number,
            email=email,
            previous_email=c.invoice_email,
            requested_by=authority.requested_by,
            basis=authority.basis.value,
        )
        c.invoice_email = email
        self._append(
            "billing", invoice_email.stream_id(c.number), [event], self._context(c.number, actor, **authority.metadata)
        )


def contacts_registry() -> EventRegistry:
    from services.contacts.domain.events import registry

    return registry


def billing_registry() -> EventRegistry:
    from services.billing.domain.events import registry

    return registry


def domains_registry() -> EventRegistry:
    from services.domains.domain.events import registry

    return registry


def generate(seed: int, customers: list[str], steps: int) -> HistoryGenerator:
    generator = HistoryGenerator(seed, customers)
    for _ in range(steps):
        generator.step()
    return generator
