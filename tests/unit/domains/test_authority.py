"""From the shared decision to support's verdict for one operation, and what the events record."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.domains.domain.authority import GRANT_REQUIRED, ActingKind, Authority, Refusal, judge
from shared.authorization.decision import Outcome, decide
from shared.authorization.identifiers import Requester, RequesterKind
from shared.authorization.model import AuthorizationView, ContactRecord, GrantRecord, InstructionState
from shared.envelope import Actor, ActorKind
from shared.scopes import Scope

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ADA = uuid.UUID(int=1)
GRANT = uuid.UUID(int=100)
AGENT = Actor(ActorKind.STAFF, "sam")
ASKED = Requester(RequesterKind.EMAIL, "ada@example.org")


def _view(*scopes: Scope, revoked: bool = False, strict: bool = False, known: bool = True) -> AuthorizationView:
    grants: tuple[GrantRecord, ...] = ()
    if scopes:
        grants = (
            GrantRecord(
                GRANT, ADA, tuple(s.value for s in scopes), T0, None, T0, "customer:100001", "portal_account_owner",
                revoked_at=T0 + timedelta(minutes=1) if revoked else None, revoked_by="customer:100001",
            ),
        )  # fmt: skip
    instruction = InstructionState(strict, "DOC-1" if strict else None, T0 if strict else None)
    return AuthorizationView("100001", ContactRecord(ADA, T0) if known else None, grants, instruction)


def _judge(view: AuthorizationView, scope: Scope) -> Authority | Refusal:
    at = T0 + timedelta(hours=1)
    return judge(AGENT, ASKED, scope, decide(view, scope.value, at))


def test_a_grant_allows_and_the_metadata_names_it() -> None:
    authority = _judge(_view(Scope.CHANGE_DNS), Scope.CHANGE_DNS)
    assert isinstance(authority, Authority)
    assert authority.acting is ActingKind.SUPPORT_ON_BEHALF
    assert authority.metadata() == {
        "acting": "support_on_behalf",
        "authorization": "allowed",
        "scope": "dns:change",
        "on_behalf_of": "email:ada@example.org",
        "contact_id": str(ADA),
        "grant_id": str(GRANT),
        "reasons": ["granted", "no_official_instruction"],
    }


def test_best_knowledge_goes_ahead_and_says_so() -> None:
    authority = _judge(_view(known=False), Scope.CHANGE_DNS)
    assert isinstance(authority, Authority)
    assert authority.basis == "best_knowledge"
    assert authority.metadata()["reasons"] == ["no_such_person", "no_official_instruction"]
    assert authority.grant_id is None


@pytest.mark.parametrize("known", [True, False])
def test_credentials_are_never_sent_to_best_knowledge(known: bool) -> None:
    refusal = _judge(_view(known=known), Scope.REQUEST_CREDENTIALS)
    assert isinstance(refusal, Refusal)
    assert refusal.decision.outcome is Outcome.BEST_KNOWLEDGE
    assert refusal.codes[0] == GRANT_REQUIRED
    assert len(refusal.codes) == len(refusal.messages)


@pytest.mark.parametrize("known", [True, False])
def test_nothing_that_mails_a_secret_goes_to_best_knowledge(known: bool) -> None:
    at = T0 + timedelta(hours=1)
    decision = decide(_view(known=known), Scope.MANAGE_MAILBOXES.value, at)
    refusal = judge(AGENT, ASKED, Scope.MANAGE_MAILBOXES, decision, mails_a_secret=True)
    assert isinstance(refusal, Refusal)
    assert refusal.codes[0] == GRANT_REQUIRED
    granted = decide(_view(Scope.MANAGE_MAILBOXES), Scope.MANAGE_MAILBOXES.value, at)
    assert isinstance(judge(AGENT, ASKED, Scope.MANAGE_MAILBOXES, granted, mails_a_secret=True), Authority)
    assert isinstance(judge(AGENT, ASKED, Scope.MANAGE_MAILBOXES, decision), Authority)


def test_credentials_on_a_grant_are_allowed() -> None:
    assert isinstance(_judge(_view(Scope.REQUEST_CREDENTIALS), Scope.REQUEST_CREDENTIALS), Authority)


def test_revoked_and_strict_refusals_carry_the_decisions_reasons() -> None:
    revoked = _judge(_view(Scope.CHANGE_DNS, revoked=True), Scope.CHANGE_DNS)
    assert isinstance(revoked, Refusal)
    assert revoked.codes == ("revoked", "no_official_instruction")
    strict = _judge(_view(Scope.PLACE_ORDERS, strict=True), Scope.CHANGE_DNS)
    assert isinstance(strict, Refusal)
    assert strict.codes == ("not_granted", "official_instruction_in_force")


def test_the_account_owner_needs_no_decision() -> None:
    owner = Authority.account_owner(Actor(ActorKind.CUSTOMER, "100001"), Scope.CANCEL_SERVICES)
    assert owner.metadata() == {"acting": "account_owner", "authorization": "account_owner", "scope": "services:cancel"}
