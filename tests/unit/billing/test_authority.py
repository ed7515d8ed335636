"""Who may change billing data: the decision of billing's copy turned into authority or refusal."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.billing.domain.authority import (
    Authority,
    AuthorizationVersion,
    ChangeBasis,
    OnBehalfOf,
    Operation,
    Refusal,
    SupportRequest,
    account_owner,
    on_behalf,
)
from services.billing.domain.events import SupportRequestRefused
from shared.authorization import (
    AuthorizationView,
    ContactRecord,
    GrantRecord,
    InstructionState,
    Requester,
    RequesterKind,
    decide,
)
from shared.scopes import Scope

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
ADA = uuid.UUID("00000000-0000-4000-8000-00000000000a")
GRANT = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
VERSION = AuthorizationVersion("customer-contacts-100001", 7, T0 + timedelta(minutes=5))
NO_INSTRUCTION = InstructionState(in_force=False)


def grant(scopes: tuple[str, ...] = (Scope.MANAGE_BILLING.value,), **fields: object) -> GrantRecord:
    values: dict[str, object] = {
        "grant_id": GRANT,
        "contact_id": ADA,
        "scopes": scopes,
        "valid_from": T0,
        "valid_until": None,
        "granted_at": T0,
        "granted_by": "customer:100001",
        "basis": "portal_account_owner",
    }
    values.update(fields)
    return GrantRecord(**values)  # type: ignore[arg-type]


def support(kind: RequesterKind = RequesterKind.CONTACT_ID, raw: str = str(ADA)) -> SupportRequest:
    return SupportRequest(
        "staff:sam", OnBehalfOf(Requester.heard(kind, raw), raw), Operation.CHANGE_INVOICE_EMAIL, "T-1"
    )


def view(
    contact: ContactRecord | None, *grants: GrantRecord, instruction: InstructionState = NO_INSTRUCTION
) -> AuthorizationView:
    return AuthorizationView("100001", contact, grants, instruction)


def test_the_account_owner_needs_no_grant() -> None:
    owner = account_owner("100001")
    assert owner.requested_by == "customer:100001"
    assert owner.basis is ChangeBasis.ACCOUNT_OWNER
    assert owner.metadata == {"basis": "portal_account_owner", "requested_by": "customer:100001"}


def test_a_contact_holding_billing_manage_is_allowed_and_the_grant_is_recorded() -> None:
    decision = decide(view(ContactRecord(ADA, T0), grant()), Scope.MANAGE_BILLING.value, NOW)
    result = on_behalf("100001", support(), decision, VERSION)
    assert isinstance(result, Authority)
    assert result.basis is ChangeBasis.CONTACT_GRANT
    assert result.requested_by == f"contact:{ADA}"
    meta = result.metadata
    assert meta["outcome"] == "allowed"
    assert meta["grant_id"] == str(GRANT)
    assert meta["granted_by"] == "customer:100001"
    assert meta["grant_basis"] == "portal_account_owner"
    assert meta["on_behalf_of"] == f"contact_id:{ADA}"
    assert meta["reasons"] == ["granted", "no_official_instruction"]
    assert meta["authorization_version"] == {
        "stream_id": "customer-contacts-100001",
        "stream_version": 7,
        "occurred_at": VERSION.occurred_at.isoformat(),
    }
    assert meta["decided_at"] == NOW.isoformat()
    assert meta["ticket_reference"] == "T-1"


def test_all_covers_billing_too() -> None:
    decision = decide(view(ContactRecord(ADA, T0), grant(("all",))), Scope.MANAGE_BILLING.value, NOW)
    assert isinstance(on_behalf("100001", support(), decision, VERSION), Authority)


def test_an_unknown_requester_without_official_instruction_is_served_to_best_knowledge() -> None:
    decision = decide(view(None), Scope.MANAGE_BILLING.value, NOW)
    result = on_behalf("100001", support(RequesterKind.EMAIL, " Boss@Example.org "), decision, None)
    assert isinstance(result, Authority)
    assert result.basis is ChangeBasis.BEST_KNOWLEDGE
    assert result.requested_by == "email:boss@example.org"
    assert result.metadata["on_behalf_of_as_heard"] == " Boss@Example.org "
    assert result.metadata["grant_id"] is None
    assert result.metadata["reasons"] == ["no_such_person", "no_official_instruction"]
    assert result.metadata["authorization_version"] is None


def test_a_known_contact_without_the_scope_is_best_knowledge_but_named() -> None:
    decision = decide(view(ContactRecord(ADA, T0), grant(("dns:change",))), Scope.MANAGE_BILLING.value, NOW)
    result = on_behalf("100001", support(RequesterKind.PHONE, "030 1234567"), decision, VERSION)
    assert isinstance(result, Authority)
    assert result.basis is ChangeBasis.BEST_KNOWLEDGE
    assert result.requested_by == f"contact:{ADA}"
    assert result.metadata["on_behalf_of"] == "phone:+49301234567"


def test_a_revoked_grant_is_refused_with_its_reasons() -> None:
    revoked = grant(revoked_at=T0 + timedelta(minutes=5), revoked_by="customer:100001", revoke_reason="left")
    decision = decide(view(ContactRecord(ADA, T0), revoked), Scope.MANAGE_BILLING.value, NOW)
    result = on_behalf("100001", support(), decision, VERSION)
    assert isinstance(result, Refusal)
    assert result.event == SupportRequestRefused(
        customer_number="100001",
        agent="staff:sam",
        on_behalf_of=f"contact_id:{ADA}",
        action="billing:manage",
        reasons=("revoked", "no_official_instruction"),
        operation="change_invoice_email",
        contact_id=ADA,
    )
    assert result.metadata["outcome"] == "denied"
    assert result.metadata["authorization_version"]["stream_version"] == 7


def test_an_official_instruction_turns_best_knowledge_into_a_refusal() -> None:
    strict = InstructionState(in_force=True, document_reference="SCAN-1", since=T0, changed_by="customer:100001")
    decision = decide(view(None, instruction=strict), Scope.MANAGE_BILLING.value, NOW)
    result = on_behalf("100001", support(RequesterKind.EMAIL, "boss@example.org"), decision, VERSION)
    assert isinstance(result, Refusal)
    assert result.event.reasons == ("no_such_person", "official_instruction_in_force")
    assert result.event.contact_id is None


def test_a_removed_contact_is_refused_even_with_a_live_grant() -> None:
    gone = ContactRecord(
        ADA, T0, removed_at=T0 + timedelta(minutes=1), removed_by="customer:100001", removed_reason="left_organisation"
    )
    decision = decide(view(gone, grant()), Scope.MANAGE_BILLING.value, NOW)
    assert isinstance(on_behalf("100001", support(), decision, VERSION), Refusal)
