"""The decision rules of `decide`, one situation at a time."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shared.authorization.decision import Outcome, ReasonCode, decide
from shared.authorization.model import (
    NO_INSTRUCTION,
    AuthorizationView,
    ContactRecord,
    GrantRecord,
    InstructionState,
    authorizations_at,
)
from shared.scopes import Scope

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ADA = uuid.UUID(int=1)
STRICT = InstructionState(True, "DOC-7", T0, "customer:100001")


def grant(scopes: tuple[str, ...] = (Scope.CHANGE_DNS,), **changes: object) -> GrantRecord:
    base = GrantRecord(
        grant_id=uuid.UUID(int=100),
        contact_id=ADA,
        scopes=tuple(str(s) for s in scopes),
        valid_from=T0,
        valid_until=None,
        granted_at=T0,
        granted_by="customer:100001",
        basis="portal_account_owner",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def view(
    *grants: GrantRecord, contact: ContactRecord | None = None, instruction: InstructionState = NO_INSTRUCTION
) -> AuthorizationView:
    return AuthorizationView("100001", contact or ContactRecord(ADA, T0 - DAY), grants, instruction)


def test_an_active_grant_allows_and_names_itself() -> None:
    d = decide(view(grant()), Scope.CHANGE_DNS, T0 + DAY)
    assert d.outcome is Outcome.ALLOWED
    assert d.grant_id == uuid.UUID(int=100)
    assert d.codes == (ReasonCode.GRANTED, ReasonCode.NO_OFFICIAL_INSTRUCTION)
    assert d.reasons[0].by == "customer:100001"


def test_all_covers_every_scope() -> None:
    assert decide(view(grant((Scope.ALL,))), Scope.CANCEL_SERVICES, T0 + DAY).outcome is Outcome.ALLOWED


def test_after_valid_until_the_answer_is_expired_not_never_granted() -> None:
    d = decide(view(grant(valid_until=T0 + DAY)), Scope.CHANGE_DNS, T0 + 2 * DAY)
    assert d.outcome is Outcome.DENIED
    assert d.codes[0] == ReasonCode.EXPIRED
    assert d.reasons[0].on == T0 + DAY
    # ... and before it, allowed.
    assert decide(view(grant(valid_until=T0 + DAY)), Scope.CHANGE_DNS, T0 + DAY / 2).outcome is Outcome.ALLOWED


def test_revoked_says_when_and_by_whom_even_without_instruction() -> None:
    revoked = grant(revoked_at=T0 + DAY, revoked_by="contact:x", revoke_reason="moved on")
    d = decide(view(revoked), Scope.CHANGE_DNS, T0 + 2 * DAY)
    assert d.outcome is Outcome.DENIED
    assert d.codes[0] == ReasonCode.REVOKED
    assert "revoked on 2026-03-02 by contact:x (moved on)" in d.reasons[0].message
    # As of a time before the revocation, the grant held.
    assert decide(view(revoked), Scope.CHANGE_DNS, T0 + DAY / 2).outcome is Outcome.ALLOWED


def test_not_granted_is_best_knowledge_without_instruction_and_denied_with_one() -> None:
    loose = decide(view(grant((Scope.VIEW_CONTRACTS,))), Scope.CHANGE_DNS, T0 + DAY)
    assert loose.outcome is Outcome.BEST_KNOWLEDGE
    assert loose.codes == (ReasonCode.NOT_GRANTED, ReasonCode.NO_OFFICIAL_INSTRUCTION)
    assert "holds: contracts:view" in loose.reasons[0].message
    strict = decide(view(grant((Scope.VIEW_CONTRACTS,)), instruction=STRICT), Scope.CHANGE_DNS, T0 + DAY)
    assert strict.outcome is Outcome.DENIED
    assert strict.codes[-1] == ReasonCode.OFFICIAL_INSTRUCTION_IN_FORCE
    assert strict.reasons[-1].document_reference == "DOC-7"


def test_unknown_person() -> None:
    nobody = AuthorizationView("100001", None, (), NO_INSTRUCTION)
    assert decide(nobody, Scope.CHANGE_DNS, T0).codes == (ReasonCode.NO_SUCH_PERSON, ReasonCode.NO_OFFICIAL_INSTRUCTION)
    assert decide(nobody, Scope.CHANGE_DNS, T0).outcome is Outcome.BEST_KNOWLEDGE
    assert decide(replace(nobody, instruction=STRICT), Scope.CHANGE_DNS, T0).outcome is Outcome.DENIED


def test_a_contact_not_yet_added_at_t_is_unknown_at_t() -> None:
    later = ContactRecord(ADA, T0 + DAY)
    assert decide(view(contact=later), Scope.CHANGE_DNS, T0).codes[0] == ReasonCode.NO_SUCH_PERSON


def test_removed_contact_is_denied_even_without_instruction() -> None:
    gone = ContactRecord(ADA, T0 - DAY, T0 + DAY, "customer:100001", "left_organisation")
    revoked = grant(revoked_at=T0 + DAY, revoked_by="customer:100001", revoke_reason="contact left the organisation")
    d = decide(view(revoked, contact=gone), Scope.CHANGE_DNS, T0 + 2 * DAY)
    assert d.outcome is Outcome.DENIED
    assert d.codes == (ReasonCode.CONTACT_REMOVED, ReasonCode.REVOKED, ReasonCode.NO_OFFICIAL_INSTRUCTION)
    assert decide(view(revoked, contact=gone), Scope.CHANGE_DNS, T0).outcome is Outcome.ALLOWED


def test_a_grant_not_valid_yet() -> None:
    future = grant(valid_from=T0 + DAY)
    d = decide(view(future), Scope.CHANGE_DNS, T0 + DAY / 2)
    assert d.codes == (ReasonCode.NOT_GRANTED, ReasonCode.NOT_YET_VALID, ReasonCode.NO_OFFICIAL_INSTRUCTION)


def test_facts_recorded_after_t_are_invisible_at_t() -> None:
    recorded_later = grant(granted_at=T0 + DAY, valid_from=T0 + DAY)
    assert decide(view(recorded_later), Scope.CHANGE_DNS, T0).codes[0] == ReasonCode.NOT_GRANTED


def test_holders_at_an_instant() -> None:
    other = uuid.UUID(int=2)
    contacts = [ContactRecord(ADA, T0 - DAY), ContactRecord(other, T0 - DAY, T0 + DAY, "customer:1", "removed")]
    grants = [grant(), grant(grant_id=uuid.UUID(int=101), contact_id=other, scopes=(Scope.ALL,))]
    before = authorizations_at("100001", T0 + DAY / 2, contacts, grants, NO_INSTRUCTION)
    after = authorizations_at("100001", T0 + 2 * DAY, contacts, grants, NO_INSTRUCTION)
    assert [h.contact_id for h in before.holders] == [ADA, other]
    assert [h.contact_id for h in after.holders] == [ADA]
