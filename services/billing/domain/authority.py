"""Who may change billing data, and on what authority: pure rules over a taken decision.

Two ways to change billing data:

    account owner     the customer's own token (portal)          always
    support           a staff token, on behalf of a requester     only as billing's copy of the
                      named by contact id, or by e-mail / phone   authorizations decides for
                      as support heard it                         "billing:manage" at that moment

For support, `shared.authorization.decide` has answered already (the handler reads billing's own
copy of `contacts.events`); this module turns its answer into either an `Authority` (allowed:
the contact holds a grant; best knowledge: no official instruction is in force and nothing
speaks against the requester) or a `Refusal` (denied), with everything compliance needs later:
the outcome, the grant relied on, the reasons, and the version of the authorization copy the
decision was taken on. That record goes into the event's metadata.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from services.billing.domain.events import SupportRequestRefused
from shared.authorization.decision import Decision, Outcome
from shared.authorization.identifiers import Requester
from shared.scopes import Scope

ACTION = Scope.MANAGE_BILLING


class ChangeBasis(StrEnum):
    ACCOUNT_OWNER = "portal_account_owner"  # the owner, in the portal
    CONTACT_GRANT = "contact_grant"  # support, for a contact holding billing:manage
    BEST_KNOWLEDGE = "best_knowledge"  # support, no official instruction in force, nothing against it
    WRITTEN_INSTRUCTION = "written_instruction"  # support, carrying out the account owner's signed instruction


class Operation(StrEnum):
    CHANGE_BILLING_ADDRESS = "change_billing_address"
    CHANGE_INVOICE_EMAIL = "change_invoice_email"
    CHANGE_BILLING_CONTACT = "change_billing_contact"


@dataclass(frozen=True, slots=True)
class AuthorizationVersion:
    """How far billing's copy of a customer's authorizations was when it decided.

    The stream and version of the last authorization event applied for the customer (the
    version contacts answered when it recorded that change) and when that event happened.
    """

    stream_id: str
    stream_version: int
    occurred_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "stream_version": self.stream_version,
            "occurred_at": self.occurred_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class OnBehalfOf:
    """The requester support names: normalised for the lookup, and as heard for the record."""

    requester: Requester
    as_heard: str

    @property
    def label(self) -> str:
        return f"{self.requester.kind.value}:{self.requester.value}"


@dataclass(frozen=True, slots=True)
class SupportRequest:
    agent: str  # staff:<name>
    on_behalf_of: OnBehalfOf
    operation: Operation
    ticket_reference: str | None = None


@dataclass(frozen=True, slots=True)
class Authority:
    """On whose request, and why that suffices; `metadata` is recorded with the event."""

    requested_by: str
    basis: ChangeBasis
    metadata: dict[str, Any]
    decision: Decision | None = None
    version: AuthorizationVersion | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    event: SupportRequestRefused
    decision: Decision
    version: AuthorizationVersion | None
    metadata: dict[str, Any]


def account_owner(customer_number: str) -> Authority:
    requested_by = f"customer:{customer_number}"
    basis = ChangeBasis.ACCOUNT_OWNER
    return Authority(requested_by, basis, {"basis": basis.value, "requested_by": requested_by})


def owners_written_instruction(
    customer_number: str, document_reference: str, ticket_reference: str | None
) -> Authority:
    """Support carrying out the account owner's written instruction (a signed letter or form it
    received): the owner's own authority, no contact's grant and no copy of the authorizations
    involved; the document's reference is recorded so that compliance can find the paper."""
    requested_by = f"customer:{customer_number}"
    basis = ChangeBasis.WRITTEN_INSTRUCTION
    metadata = {
        "basis": basis.value,
        "requested_by": requested_by,
        "document_reference": document_reference,
        "ticket_reference": ticket_reference,
    }
    return Authority(requested_by, basis, metadata)


def _decision_metadata(
    request: SupportRequest, decision: Decision, version: AuthorizationVersion | None
) -> dict[str, Any]:
    grant = next((r.grant for r in decision.reasons if r.grant is not None and decision.grant_id), None)
    return {
        "on_behalf_of": request.on_behalf_of.label,
        "on_behalf_of_as_heard": request.on_behalf_of.as_heard,
        "contact_id": str(decision.contact_id) if decision.contact_id else None,
        "action": decision.action,
        "operation": request.operation.value,
        "outcome": decision.outcome.value,
        "grant_id": str(decision.grant_id) if decision.grant_id else None,
        "grant_basis": grant.basis if grant is not None else None,
        "granted_by": grant.granted_by if grant is not None else None,
        "reasons": list(decision.codes),
        "decided_at": decision.at.isoformat(),
        "authorization_version": version.as_dict() if version is not None else None,
        "ticket_reference": request.ticket_reference,
    }


def requested_by(request: SupportRequest, contact_id: uuid.UUID | None) -> str:
    """`contact:<uuid>` for a recognised contact, else the requester as support named them."""
    return f"contact:{contact_id}" if contact_id is not None else request.on_behalf_of.label


def on_behalf(
    customer_number: str, request: SupportRequest, decision: Decision, version: AuthorizationVersion | None
) -> Authority | Refusal:
    """Support's request, given the decision of billing's copy for `ACTION` at `decision.at`."""
    assert decision.action == ACTION.value, decision.action
    metadata = _decision_metadata(request, decision, version)
    if decision.outcome is Outcome.DENIED:
        event = SupportRequestRefused(
            customer_number=customer_number,
            agent=request.agent,
            on_behalf_of=request.on_behalf_of.label,
            action=decision.action,
            reasons=decision.codes,
            operation=request.operation.value,
            contact_id=decision.contact_id,
        )
        return Refusal(event, decision, version, metadata)
    basis = ChangeBasis.CONTACT_GRANT if decision.outcome is Outcome.ALLOWED else ChangeBasis.BEST_KNOWLEDGE
    by = requested_by(request, decision.contact_id)
    return Authority(by, basis, {"basis": basis.value, "requested_by": by, **metadata}, decision, version)


def reasons_as_dicts(decision: Decision) -> list[dict[str, Any]]:
    """The decision's reasons as a caller is shown them (codes, messages, the grants named)."""
    return [
        {
            "code": r.code.value,
            "message": r.message,
            "grant_id": str(r.grant.grant_id) if r.grant is not None else None,
            "on": r.on.isoformat() if r.on is not None else None,
            "by": r.by,
            "document_reference": r.document_reference,
        }
        for r in decision.reasons
    ]
