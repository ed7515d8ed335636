"""The authorization decision: may this requester have this done for this customer at `at`?

Pure: it looks only at the view it is given (facts recorded after `at` are ignored). Rules, in
order:

1. A current contact with an active grant covering the action: **allowed**, naming the grant.
2. A contact who was removed (or left the organisation) by `at`: **denied**, always.
3. A contact whose covering grants were all revoked or have expired: **denied**, always: a
   withdrawn authorization is explicit knowledge, not a gap in it.
4. Otherwise (an unknown person, a contact never granted this, or whose grant is not valid yet):
   **denied** when an official instruction is in force, else **best_knowledge**: support acts to
   its best knowledge, and the reasons say so.

Every answer carries reasons; the official-instruction state is always the last reason.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.authorization.model import (
    NO_INSTRUCTION,
    AuthorizationView,
    GrantRecord,
    GrantStatus,
    InstructionState,
    grant_order,
    held_scopes,
)


class Outcome(StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    BEST_KNOWLEDGE = "best_knowledge"


class ReasonCode(StrEnum):
    GRANTED = "granted"
    NO_SUCH_PERSON = "no_such_person"
    CONTACT_REMOVED = "contact_removed"
    NOT_GRANTED = "not_granted"
    REVOKED = "revoked"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    OFFICIAL_INSTRUCTION_IN_FORCE = "official_instruction_in_force"
    NO_OFFICIAL_INSTRUCTION = "no_official_instruction"


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    message: str
    grant: GrantRecord | None = None
    on: datetime | None = None
    by: str | None = None
    document_reference: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    action: str
    at: datetime
    contact_id: uuid.UUID | None
    reasons: tuple[Reason, ...]
    grant_id: uuid.UUID | None = None  # the grant relied on, when allowed

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code.value for r in self.reasons)


def _day(instant: datetime) -> str:
    return instant.date().isoformat()


_NOT_IN_FORCE = "the customer has no official instruction in force: support acts to its best knowledge"
_NONE_EVER = Reason(ReasonCode.NO_OFFICIAL_INSTRUCTION, _NOT_IN_FORCE)


def _instruction_reason(state: InstructionState) -> Reason:
    if state is NO_INSTRUCTION:  # most customers: the one answer, built once
        return _NONE_EVER
    if state.in_force:
        return Reason(
            ReasonCode.OFFICIAL_INSTRUCTION_IN_FORCE,
            f"an official instruction ({state.document_reference}) is in force: only granted contacts may",
            on=state.since,
            by=state.changed_by,
            document_reference=state.document_reference,
        )
    return Reason(
        ReasonCode.NO_OFFICIAL_INSTRUCTION,
        _NOT_IN_FORCE,
        on=state.since,
        by=state.changed_by,
        document_reference=state.document_reference,
    )


def _withdrawn_reason(grant: GrantRecord, status: GrantStatus) -> Reason:
    if status is GrantStatus.REVOKED:
        assert grant.revoked_at is not None
        why = f" ({grant.revoke_reason})" if grant.revoke_reason else ""
        return Reason(
            ReasonCode.REVOKED,
            f"grant {grant.grant_id} was revoked on {_day(grant.revoked_at)} by {grant.revoked_by}{why}",
            grant=grant,
            on=grant.revoked_at,
            by=grant.revoked_by,
        )
    if status is GrantStatus.EXPIRED:
        assert grant.valid_until is not None
        return Reason(
            ReasonCode.EXPIRED,
            f"grant {grant.grant_id} expired on {_day(grant.valid_until)}",
            grant=grant,
            on=grant.valid_until,
            by=grant.granted_by,
        )
    return Reason(
        ReasonCode.NOT_YET_VALID,
        f"grant {grant.grant_id} is valid only from {grant.valid_from.isoformat()}",
        grant=grant,
        on=grant.valid_from,
        by=grant.granted_by,
    )


def decide(view: AuthorizationView, action: str, at: datetime) -> Decision:
    instruction = _instruction_reason(view.instruction)
    contact = view.contact.as_of(at) if view.contact is not None else None
    strict = Outcome.DENIED if view.instruction.in_force else Outcome.BEST_KNOWLEDGE
    if contact is None:
        reason = Reason(ReasonCode.NO_SUCH_PERSON, "no contact person of this customer matches the requester")
        return Decision(strict, action, at, None, (reason, instruction))

    # Readers return grants in no particular order; reasons must not depend on it.
    cid = contact.contact_id
    grants = [g for x in view.grants if x.contact_id == cid and (g := x.as_of(at)) is not None]
    if len(grants) > 1 and not view.grants_in_order:
        grants.sort(key=grant_order)
    if contact.removed:
        assert contact.removed_at is not None
        removed = Reason(
            ReasonCode.CONTACT_REMOVED,
            f"the contact was removed on {_day(contact.removed_at)} by {contact.removed_by} ({contact.removed_reason})",
            on=contact.removed_at,
            by=contact.removed_by,
        )
        withdrawn = tuple(
            _withdrawn_reason(g, g.status(at))
            for g in grants
            if g.allows(action) and g.status(at) is GrantStatus.REVOKED
        )
        return Decision(Outcome.DENIED, action, at, contact.contact_id, (removed, *withdrawn, instruction))

    # (`grants` are already seen as of `at` and in order: `active_grants` would do both again)
    covering = [g for g in grants if g.allows(action)]
    chosen = next((g for g in covering if g.status(at) is GrantStatus.ACTIVE), None)
    if chosen is not None:
        granted = Reason(
            ReasonCode.GRANTED,
            f"granted by {chosen.granted_by} on {_day(chosen.granted_at)} ({chosen.basis}): {', '.join(chosen.scopes)}",
            grant=chosen,
            on=chosen.granted_at,
            by=chosen.granted_by,
        )
        return Decision(Outcome.ALLOWED, action, at, contact.contact_id, (granted, instruction), chosen.grant_id)

    reasons = tuple(_withdrawn_reason(g, g.status(at)) for g in covering)
    if any(r.code in (ReasonCode.REVOKED, ReasonCode.EXPIRED) for r in reasons):
        return Decision(Outcome.DENIED, action, at, contact.contact_id, (*reasons, instruction))
    held = held_scopes(grants, at)
    not_granted = Reason(
        ReasonCode.NOT_GRANTED,
        f"the contact holds no grant for {action}" + (f" (holds: {', '.join(held)})" if held else ""),
    )
    return Decision(strict, action, at, contact.contact_id, (not_granted, *reasons, instruction))
