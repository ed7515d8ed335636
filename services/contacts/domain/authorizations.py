"""Decisions about grants and the official instruction, on the `CustomerContacts` aggregate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.contacts.domain.acting import Acting, ActingKind
from services.contacts.domain.contacts import CustomerContacts, Grant, ensure_may_manage, grant_of
from services.contacts.domain.errors import (
    GrantAlreadyGiven,
    GrantAlreadyRevoked,
    InstructionStateConflict,
    InvalidValidity,
    NotPermitted,
    UnknownGrant,
)
from services.contacts.domain.events import (
    ContactAuthorizationRevoked,
    ContactAuthorized,
    OfficialInstructionIssued,
    OfficialInstructionWithdrawn,
)
from shared.envelope import DomainEvent
from shared.scopes import Scope, covers_all

# A client's "from now" arrives a moment late; starts up to this far back count as "now".
START_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class AuthorizeContact:
    contact_id: uuid.UUID
    scopes: frozenset[Scope]
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    note: str | None = None


@dataclass(frozen=True)
class RevokeAuthorization:
    grant_id: uuid.UUID
    reason: str


@dataclass(frozen=True)
class IssueOfficialInstruction:
    document_reference: str
    note: str | None = None


@dataclass(frozen=True)
class WithdrawOfficialInstruction:
    reason: str | None = None


def decide_authorize(
    state: CustomerContacts, cmd: AuthorizeContact, acting: Acting, now: datetime, grant_id: uuid.UUID
) -> list[DomainEvent]:
    held = ensure_may_manage(state, acting, now)
    contact = state.current(cmd.contact_id)
    if not cmd.scopes:
        raise InvalidValidity("a grant needs at least one scope")
    if held is not None and not covers_all(held, cmd.scopes):
        missing = sorted(s.value for s in cmd.scopes if not covers_all(held, [s]))
        raise NotPermitted(f"the acting contact cannot grant scopes it does not hold: {', '.join(missing)}")
    valid_from = cmd.valid_from or now
    if valid_from < now - START_TOLERANCE:
        # Back-dating would change what "as of T" said for a T already past.
        raise InvalidValidity("a grant cannot start in the past")
    valid_from = max(valid_from, now)
    if cmd.valid_until is not None and cmd.valid_until <= valid_from:
        if cmd.valid_from is None:  # (it starts now: say what is wrong with what was given)
            raise InvalidValidity("valid_until must lie in the future (the grant starts now)")
        raise InvalidValidity("valid_until must lie after valid_from")
    scopes = (Scope.ALL,) if Scope.ALL in cmd.scopes else tuple(sorted(cmd.scopes))
    event = ContactAuthorized(
        grant_id=grant_id,
        contact_id=contact.contact_id,
        scopes=scopes,
        valid_from=valid_from,
        valid_until=cmd.valid_until,
        granted_by=acting.decider,
        basis=acting.basis,
        note=cmd.note,
    )
    if (given := _same_grant(state, grant_of(event), now)) is not None:
        raise GrantAlreadyGiven(
            f"contact {contact.contact_id} already holds this authorization (grant {given.grant_id})",
            grant_id=str(given.grant_id),
        )
    return [event]


def _same_grant(state: CustomerContacts, wanted: Grant, now: datetime) -> Grant | None:
    """A grant the command would repeat word for word (a retry, a second click): same contact,
    scopes, end, decider, basis and note, not revoked, and in force already when the new one would
    start now, or starting at the same future instant. Anything that differs is a grant of its own."""
    for grant in state.grants.values():
        if (
            not grant.revoked
            and grant.terms() == wanted.terms()
            and (grant.active(now) if wanted.valid_from == now else grant.valid_from == wanted.valid_from)
        ):
            return grant
    return None


def decide_revoke(
    state: CustomerContacts, cmd: RevokeAuthorization, acting: Acting, now: datetime
) -> list[DomainEvent]:
    held = ensure_may_manage(state, acting, now)
    grant = state.grants.get(cmd.grant_id)
    if grant is None:
        raise UnknownGrant(f"no authorization {cmd.grant_id} for this customer")
    if grant.revoked:
        raise GrantAlreadyRevoked(f"authorization {cmd.grant_id} was revoked already")
    if held is not None and not covers_all(held, grant.scopes):
        raise NotPermitted("the acting contact cannot revoke a grant with scopes it does not hold")
    return [
        ContactAuthorizationRevoked(
            grant_id=grant.grant_id,
            contact_id=grant.contact_id,
            reason=cmd.reason,
            revoked_by=acting.decider,
            basis=acting.basis,
        )
    ]


def _ensure_owner_level(acting: Acting) -> None:
    if acting.kind is ActingKind.CONTACT_VIA_SUPPORT:
        raise NotPermitted("only the account owner (or support on the owner's written instruction) may do this")


def decide_issue_instruction(
    state: CustomerContacts, cmd: IssueOfficialInstruction, acting: Acting
) -> list[DomainEvent]:
    _ensure_owner_level(acting)
    if state.instruction == cmd.document_reference:
        raise InstructionStateConflict(f"the official instruction {cmd.document_reference} is already in force")
    return [OfficialInstructionIssued(cmd.document_reference, acting.decider, cmd.note)]


def decide_withdraw_instruction(
    state: CustomerContacts, cmd: WithdrawOfficialInstruction, acting: Acting
) -> list[DomainEvent]:
    _ensure_owner_level(acting)
    if state.instruction is None:
        raise InstructionStateConflict("no official instruction is in force")
    return [OfficialInstructionWithdrawn(state.instruction, acting.decider, cmd.reason)]
