"""Reading the authority of an event from each service's metadata (and degrading gracefully)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson

from shared.audit.authority import Basis, classify
from shared.audit.events import AuditEvent


def event(
    service: str,
    event_type: str,
    metadata: dict[str, object],
    data: dict[str, object] | None = None,
    actor: str = "staff:sam",
) -> AuditEvent:
    return AuditEvent(
        str(uuid.uuid4()),
        service,
        event_type,
        1,
        "stream-1",
        1,
        "100001",
        datetime(2026, 3, 3, tzinfo=UTC),
        actor,
        str(uuid.uuid4()),
        None,
        orjson.dumps(data or {}),
        orjson.dumps(metadata),
    )


def test_contacts_acting_kinds() -> None:
    contact = str(uuid.uuid4())
    via = classify(
        event(
            "contacts",
            "ContactAuthorized",
            {"acting": "contact_via_support", "basis": "contact_request_via_support", "on_behalf_of": contact},
        )
    )
    assert via.basis is Basis.GRANT
    assert via.implied
    assert via.scope == "contacts:manage"
    assert via.on_behalf_of == f"contact_id:{contact}"
    assert via.contact_id == contact
    address = classify(
        event("contacts", "CustomerAddressChanged", {"acting": "contact_via_support", "on_behalf_of": contact})
    )
    assert address.scope == "billing:manage"
    written = classify(
        event("contacts", "ContactAdded", {"acting": "support", "basis": "written_instruction_received"})
    )
    assert written.basis is Basis.WRITTEN_INSTRUCTION
    assert not written.on_behalf
    owner = classify(event("contacts", "ContactAdded", {"acting": "account_owner"}, actor="customer:100001"))
    assert owner.basis is Basis.ACCOUNT_OWNER


def test_billing_and_domains_words() -> None:
    grant = str(uuid.uuid4())
    billing = classify(
        event(
            "billing",
            "InvoiceEmailChanged",
            {
                "basis": "contact_grant",
                "outcome": "allowed",
                "grant_id": grant,
                "on_behalf_of": "email:a@b.de",
                "action": "billing:manage",
                "decided_at": "2026-03-03T00:00:00+00:00",
            },
        )
    )
    assert (billing.basis, billing.grant_id, billing.scope, billing.recorded_outcome) == (
        Basis.GRANT,
        grant,
        "billing:manage",
        "allowed",
    )
    assert billing.requester is not None
    assert billing.requester.value == "a@b.de"
    letter = classify(
        event(
            "billing",
            "BillingAddressChanged",
            {"basis": "written_instruction", "requested_by": "customer:100001", "document_reference": "LETTER-1"},
        )
    )
    assert (letter.basis, letter.on_behalf_of, letter.recorded_outcome) == (Basis.WRITTEN_INSTRUCTION, None, None)
    listed = classify(
        event(
            "domains",
            "ContractListProvided",
            {"acting": "written_instruction", "authorization": "written_instruction", "document_reference": "L-2"},
            {"agent": "staff:sam", "on_behalf_of": "customer:100001", "authorization": "written_instruction"},
        )
    )
    assert (listed.basis, listed.on_behalf_of, listed.requester) == (Basis.WRITTEN_INSTRUCTION, "customer:100001", None)
    best = classify(
        event(
            "domains",
            "RedirectSet",
            {
                "acting": "support_on_behalf",
                "authorization": "best_knowledge",
                "scope": "dns:change",
                "on_behalf_of": "phone:+49301234567",
            },
        )
    )
    assert best.basis is Basis.BEST_KNOWLEDGE
    assert best.recorded_outcome == "best_knowledge"
    refused = classify(
        event(
            "domains",
            "SupportRequestRefused",
            {"authorization": "denied", "scope": "credentials:request", "on_behalf_of": "email:x@y.de"},
            {
                "agent": "staff:sam",
                "on_behalf_of": "email:x@y.de",
                "action": "credentials:request",
                "reasons": ["grant_required", "no_such_person"],
            },
        )
    )
    # domains refuses credentials on a best-knowledge decision: the decision itself said best knowledge.
    assert refused.basis is Basis.REFUSED
    assert refused.recorded_outcome == "best_knowledge"
    assert refused.reasons == ("grant_required", "no_such_person")
    review = classify(event("domains", "ContractListProvided", {"acting": "staff_review"}))
    assert review.basis is Basis.STAFF


def test_unknown_events_do_not_fail() -> None:
    odd = event("newservice", "SomethingHappened", {"whatever": [1, 2]}, {"on_behalf_of": 42}, actor="robot:x")
    assert classify(odd).basis is Basis.UNKNOWN
    system = classify(event("identity", "SessionRevoked", {}, actor="system:system"))
    assert system.basis is Basis.SYSTEM
    broken = classify(event("billing", "X", {"on_behalf_of": "not a label", "reasons": "nope"}))
    assert broken.on_behalf_of == "unknown:not a label"
    assert broken.requester is None
    assert broken.reasons == ()
