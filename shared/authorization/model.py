"""Plain records of the authorization read model, shared by every reader and by `decide`.

Readers (the PostgreSQL tables of `AuthorizationProjection`, or the in-memory
`AuthorizationMemory`) may return facts recorded *after* the instant asked about; the functions
here look at them as of that instant, so "as of T" never depends on what happened after T.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.scopes import covers


class GrantStatus(StrEnum):
    ACTIVE = "active"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class ContactRecord:
    contact_id: uuid.UUID
    added_at: datetime
    removed_at: datetime | None = None
    removed_by: str | None = None
    removed_reason: str | None = None

    def as_of(self, at: datetime) -> ContactRecord | None:
        """The contact as known at `at` (None: not added yet)."""
        if self.added_at > at:
            return None
        if self.removed_at is not None and self.removed_at > at:
            return self.with_removal(None, None, None)
        return self

    def with_removal(self, at: datetime | None, by: str | None, reason: str | None) -> ContactRecord:
        # Positional: dataclasses.replace costs microseconds, and folds call this per event.
        return ContactRecord(self.contact_id, self.added_at, at, by, reason)

    @property
    def removed(self) -> bool:
        return self.removed_at is not None


@dataclass(frozen=True, slots=True)
class ContactDetails:
    """A contact person as a copy of contacts.events shows them (whom billing matters go to, to
    whom domains mails credentials); `removed_at`: when they were removed or left, if so."""

    contact_id: uuid.UUID
    name: str
    email: str
    phone: str | None
    organisation: str | None
    function: str | None
    removed_at: datetime | None

    @property
    def current(self) -> bool:
        return self.removed_at is None


@dataclass(frozen=True, slots=True)
class GrantRecord:
    grant_id: uuid.UUID
    contact_id: uuid.UUID
    scopes: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime | None
    granted_at: datetime
    granted_by: str
    basis: str
    note: str | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    def as_of(self, at: datetime) -> GrantRecord | None:
        """The grant as known at `at` (None: not recorded yet)."""
        if self.granted_at > at:
            return None
        if self.revoked_at is not None and self.revoked_at > at:
            return self.with_revocation(None, None, None)
        return self

    def with_revocation(self, at: datetime | None, by: str | None, reason: str | None) -> GrantRecord:
        return GrantRecord(
            self.grant_id, self.contact_id, self.scopes, self.valid_from, self.valid_until, self.granted_at,
            self.granted_by, self.basis, self.note, at, by, reason,
        )  # fmt: skip

    def status(self, at: datetime) -> GrantStatus:
        """Status at `at` of a grant already seen `as_of(at)`."""
        if self.revoked_at is not None and self.revoked_at <= at:
            return GrantStatus.REVOKED
        if self.valid_until is not None and self.valid_until <= at:
            return GrantStatus.EXPIRED
        if self.valid_from > at:
            return GrantStatus.NOT_YET_VALID
        return GrantStatus.ACTIVE

    def allows(self, action: str) -> bool:
        return covers(self.scopes, action)


@dataclass(frozen=True, slots=True)
class InstructionState:
    """Whether an official instruction is in force for the customer (strict mode)."""

    in_force: bool
    document_reference: str | None = None
    since: datetime | None = None
    changed_by: str | None = None


NO_INSTRUCTION = InstructionState(in_force=False)


def grant_order(grant: GrantRecord) -> tuple[datetime, uuid.UUID]:
    """The order reasons name grants in: as granted, ties (one command's grants) by id."""
    return grant.granted_at, grant.grant_id


@dataclass(frozen=True, slots=True)
class AuthorizationView:
    """What a decision needs about one requester of one customer."""

    customer_number: str
    contact: ContactRecord | None
    grants: tuple[GrantRecord, ...]
    instruction: InstructionState
    # The reader's promise that `grants` are in `grant_order` already (the in-memory model keeps
    # them so; sorting on ties compares UUIDs in Python, microseconds on every check).
    grants_in_order: bool = False


@dataclass(frozen=True, slots=True)
class Holder:
    contact_id: uuid.UUID
    scopes: tuple[str, ...]
    grants: tuple[GrantRecord, ...]


@dataclass(frozen=True, slots=True)
class AuthorizationsAt:
    """Who held which scopes for a customer at one instant."""

    customer_number: str
    at: datetime
    instruction: InstructionState
    holders: tuple[Holder, ...]


def pick_contact(candidates: Iterable[ContactRecord], at: datetime) -> ContactRecord | None:
    """The contact an identifier meant at `at`: a current one, else the one removed last.

    Contacts keep e-mail and phone unique among current contacts, so there is at most one
    current candidate; removed contacts keep their identifiers so that someone who left is
    recognised (and refused) instead of being treated as a stranger.
    """
    seen = [c for c in (x.as_of(at) for x in candidates) if c is not None]
    current = [c for c in seen if not c.removed]
    if current:
        return min(current, key=lambda c: (c.added_at, c.contact_id))
    removed = sorted(seen, key=lambda c: (c.removed_at or c.added_at, c.contact_id), reverse=True)
    return removed[0] if removed else None


def active_grants(grants: Iterable[GrantRecord], at: datetime) -> list[GrantRecord]:
    out = []
    for g in grants:
        seen = g.as_of(at)
        if seen is not None and seen.status(at) is GrantStatus.ACTIVE:
            out.append(seen)
    return sorted(out, key=grant_order)


def held_scopes(grants: Iterable[GrantRecord], at: datetime) -> tuple[str, ...]:
    # (the scopes only: in no need of the grants' order)
    active = GrantStatus.ACTIVE
    seen = [x for g in grants if (x := g.as_of(at)) is not None and x.status(at) is active]
    return tuple(sorted({s for g in seen for s in g.scopes}))


def authorizations_at(
    customer_number: str,
    at: datetime,
    contacts: Iterable[ContactRecord],
    grants: Sequence[GrantRecord],
    instruction: InstructionState,
) -> AuthorizationsAt:
    """Holders at `at`: current contacts with at least one active grant."""
    by_contact: dict[uuid.UUID, list[GrantRecord]] = {}
    for g in active_grants(grants, at):
        by_contact.setdefault(g.contact_id, []).append(g)
    holders = []
    for contact in sorted(contacts, key=lambda c: c.contact_id):
        seen = contact.as_of(at)
        if seen is None or seen.removed or contact.contact_id not in by_contact:
            continue
        held = by_contact[contact.contact_id]
        holders.append(Holder(contact.contact_id, tuple(sorted({s for g in held for s in g.scopes})), tuple(held)))
    return AuthorizationsAt(customer_number, at, instruction, tuple(holders))
