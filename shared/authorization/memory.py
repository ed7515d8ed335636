"""The authorization read model in memory: a fold over `contacts.events`, per customer.

The reference for "as of T": folding the events recorded up to T and asking about T must give
the same answers as the live model asked about T (tests compare it with the PostgreSQL
projection). It is also small and fast enough to serve as a process-local copy for a consumer
that wants no database round trip on its hot path.
"""

from __future__ import annotations

import uuid
from bisect import insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from shared.authorization import contract
from shared.authorization.identifiers import Requester, RequesterKind, abroad_match
from shared.authorization.model import (
    NO_INSTRUCTION,
    AuthorizationsAt,
    AuthorizationView,
    ContactRecord,
    GrantRecord,
    InstructionState,
    authorizations_at,
    grant_order,
    pick_contact,
)
from shared.envelope import RecordedEvent

_EMAIL = RequesterKind.EMAIL.value
_PHONE = RequesterKind.PHONE.value


@dataclass(slots=True)
class Span:
    """A contact known by an identifier from `valid_from` until `valid_until` (exclusive)."""

    contact_id: uuid.UUID
    valid_from: datetime
    valid_until: datetime | None = None

    def holds(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or self.valid_until > at)


@dataclass(slots=True)
class CustomerAuthorizations:
    """One customer's authorization model in memory, folded from events (`AuthorizationMemory`)
    or read from the projection's tables (`queries.load_customer`, domains' kept customers).
    `view` answers as `queries.view_on` does on the tables (tests hold them to it)."""

    customer_number: str
    contacts: dict[uuid.UUID, ContactRecord] = field(default_factory=dict)
    identifiers: dict[tuple[str, str], list[Span]] = field(default_factory=dict)
    current_identifiers: dict[uuid.UUID, list[tuple[str, str]]] = field(default_factory=dict)
    grants: dict[uuid.UUID, GrantRecord] = field(default_factory=dict)
    # Each contact's grants, in `grant_order` (kept so on every change: checks need not sort).
    grants_by_contact: dict[uuid.UUID, list[GrantRecord]] = field(default_factory=dict)
    instructions: list[InstructionState] = field(default_factory=list)
    # Read from a copy's tables (`queries.load_customer` with its consumer): the version of the
    # customer's authorization stream the rows reflect (0: none applied).
    version: int = 0

    def instruction_at(self, at: datetime) -> InstructionState:
        state = NO_INSTRUCTION
        for change in self.instructions:  # in event order; few per customer
            if change.since is not None and change.since <= at:
                state = change
        return state

    def set_identifiers(self, contact_id: uuid.UUID, facts: contract.ContactFacts, at: datetime) -> None:
        wanted = [(_EMAIL, facts.email)]
        if facts.phone_e164:
            wanted.append((_PHONE, facts.phone_e164))
        current = self.current_identifiers.get(contact_id, [])
        for key in current:
            if key not in wanted:
                for span in self.identifiers.get(key, []):
                    if span.contact_id == contact_id and span.valid_until is None:
                        span.valid_until = at
        for key in wanted:
            if key not in current:
                spans = self.identifiers.get(key)
                if spans is None:
                    spans = self.identifiers[key] = []
                spans.append(Span(contact_id, at))
        self.current_identifiers[contact_id] = wanted

    def add_grant(self, grant: GrantRecord) -> None:
        self.grants[grant.grant_id] = grant
        held = self.grants_by_contact.get(grant.contact_id)
        if held is None:
            self.grants_by_contact[grant.contact_id] = [grant]
        elif grant_order(held[-1]) < grant_order(grant):  # as events come, in the usual case
            held.append(grant)
        else:
            insort(held, grant, key=grant_order)

    def replace_grant(self, grant: GrantRecord) -> None:
        """The same grant with later facts (its revocation): its place in the order stays."""
        self.grants[grant.grant_id] = grant
        held = self.grants_by_contact[grant.contact_id]
        for i, g in enumerate(held):
            if g.grant_id == grant.grant_id:
                held[i] = grant
                return

    def knows_phone(self, e164: str) -> bool:
        """Whether some contact of this customer has (or had) this normalised phone number."""
        return (_PHONE, e164) in self.identifiers

    def resolve(self, requester: Requester, at: datetime) -> ContactRecord | None:
        """The contact the requester meant at `at`, if any."""
        if requester.kind is RequesterKind.CONTACT_ID:
            try:
                record = self.contacts.get(uuid.UUID(requester.value))
            except ValueError:
                return None
            return record if record is not None and record.added_at <= at else None
        spans = self.identifiers.get((requester.kind.value, requester.value), ())
        if len(spans) == 1:  # the usual case: one contact ever had this identifier
            (span,) = spans
            contact = self.contacts.get(span.contact_id)
            # (`as_of` is what `pick_contact` answers for one candidate)
            found = contact.as_of(at) if contact is not None and span.holds(at) else None
        else:
            found = self._pick(spans, at)
        if found is None and requester.kind is RequesterKind.PHONE:
            abroad = abroad_match(requester.value)
            if abroad is not None:  # a national number heard: a caller from abroad? (see identifiers.py)
                found = self._pick(
                    (s for key, held in self.identifiers.items() if key[0] == _PHONE and abroad(key[1]) for s in held),
                    at,
                )
        return found

    def _pick(self, spans: Iterable[Span], at: datetime) -> ContactRecord | None:
        ids = {s.contact_id for s in spans if s.holds(at)}
        return pick_contact((self.contacts[i] for i in ids if i in self.contacts), at)

    def view(self, requester: Requester, at: datetime) -> AuthorizationView:
        contact = self.resolve(requester, at)
        grants: tuple[GrantRecord, ...] = ()
        if contact is not None and (held := self.grants_by_contact.get(contact.contact_id)):
            # In grant order, so the last was granted last: usually all of them were by `at`.
            grants = tuple(held) if held[-1].granted_at <= at else tuple(g for g in held if g.granted_at <= at)
        return AuthorizationView(self.customer_number, contact, grants, self.instruction_at(at), grants_in_order=True)

    def authorizations_at(self, at: datetime) -> AuthorizationsAt:
        return authorizations_at(
            self.customer_number, at, self.contacts.values(), list(self.grants.values()), self.instruction_at(at)
        )


class AuthorizationMemory:
    def __init__(self) -> None:
        self._customers: dict[str, CustomerAuthorizations] = {}
        self._applied: dict[str, int] = {}

    def apply(self, event: RecordedEvent) -> None:
        if event.event_type in contract.AUTHORIZATION_EVENT_TYPES:
            self.apply_fact(contract.fact(event))

    def apply_fact(self, f: contract.Fact) -> None:
        """Fold one authorization event, read by `contract.fact` or in bulk (`loading.py`)."""
        # The consumers' duplicate rule: a stream version applied once.
        if self._applied.get(f.stream_id, 0) >= f.stream_version:
            return
        self._applied[f.stream_id] = f.stream_version
        c = self._customers.get(f.customer_number)
        if c is None:  # (setdefault would build one for every event: rebuilds fold millions)
            c = self._customers[f.customer_number] = CustomerAuthorizations(f.customer_number)
        kind = f.event_type
        if kind == contract.CONTACT_ADDED:
            facts = contract.contact_facts_of(f)
            if facts.contact_id not in c.contacts:
                c.contacts[facts.contact_id] = ContactRecord(facts.contact_id, f.occurred_at)
            c.set_identifiers(facts.contact_id, facts, f.occurred_at)
        elif kind == contract.CONTACT_DETAILS_CHANGED:
            facts = contract.contact_facts_of(f)
            if facts.contact_id in c.contacts:
                c.set_identifiers(facts.contact_id, facts, f.occurred_at)
        elif kind == contract.CONTACT_REMOVED:
            removal = contract.removal_of(f)
            contact = c.contacts.get(removal.contact_id)
            if contact is not None:
                c.contacts[removal.contact_id] = contact.with_removal(
                    removal.removed_at, removal.removed_by, removal.reason
                )
        elif kind == contract.CONTACT_AUTHORIZED:
            c.add_grant(contract.grant_of(f))
        elif kind == contract.CONTACT_AUTHORIZATION_REVOKED:
            revocation = contract.revocation_of(f)
            existing = c.grants.get(revocation.grant_id)
            if existing is not None and existing.revoked_at is None:
                revoked = existing.with_revocation(revocation.revoked_at, revocation.revoked_by, revocation.reason)
                c.replace_grant(revoked)
        else:
            c.instructions.append(contract.instruction_of(f))

    def apply_all(self, events: Iterable[RecordedEvent]) -> AuthorizationMemory:
        for event in events:
            self.apply(event)
        return self

    def view(self, customer_number: str, requester: Requester, at: datetime) -> AuthorizationView:
        return self.customer(customer_number).view(requester, at)

    def authorizations_at(self, customer_number: str, at: datetime) -> AuthorizationsAt:
        return self.customer(customer_number).authorizations_at(at)

    def customer(self, customer_number: str) -> CustomerAuthorizations:
        """The customer's model (an empty one, not kept, for a customer without events)."""
        return self._customers.get(customer_number) or CustomerAuthorizations(customer_number)


class MemoryAuthorizationReader:
    """`AuthorizationReader` over an `AuthorizationMemory` (no I/O: answers in microseconds)."""

    def __init__(self, memory: AuthorizationMemory) -> None:
        self.memory = memory

    async def view(self, customer_number: str, requester: Requester, at: datetime) -> AuthorizationView:
        return self.memory.view(customer_number, requester, at)

    async def authorizations_at(self, customer_number: str, at: datetime) -> AuthorizationsAt:
        return self.memory.authorizations_at(customer_number, at)
