"""Domain and read-model records turned into response bodies."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from services.contacts.api.schemas import (
    AuthorizationsOut,
    CheckResult,
    GrantOut,
    HolderOut,
    InstructionOut,
    ReasonOut,
)
from shared.authorization.decision import Decision
from shared.authorization.model import AuthorizationsAt, GrantRecord, InstructionState


def grant_out(g: GrantRecord) -> GrantOut:
    return GrantOut(
        grant_id=g.grant_id,
        contact_id=g.contact_id,
        scopes=list(g.scopes),
        valid_from=g.valid_from,
        valid_until=g.valid_until,
        granted_at=g.granted_at,
        granted_by=g.granted_by,
        basis=g.basis,
        note=g.note,
        revoked_at=g.revoked_at,
        revoked_by=g.revoked_by,
        revoke_reason=g.revoke_reason,
    )


def instruction_out(state: InstructionState) -> InstructionOut:
    return InstructionOut(
        in_force=state.in_force,
        document_reference=state.document_reference,
        since=state.since,
        changed_by=state.changed_by,
    )


def check_result(decision: Decision) -> CheckResult:
    return CheckResult(
        outcome=decision.outcome.value,
        action=decision.action,
        at=decision.at,
        contact_id=decision.contact_id,
        grant_id=decision.grant_id,
        reasons=[
            ReasonOut(
                code=r.code.value,
                message=r.message,
                grant=grant_out(r.grant) if r.grant is not None else None,
                on=r.on,
                by=r.by,
                document_reference=r.document_reference,
            )
            for r in decision.reasons
        ],
    )


def _grant_json(g: GrantRecord) -> dict[str, Any]:
    return {
        "grant_id": g.grant_id,
        "contact_id": g.contact_id,
        "scopes": g.scopes,
        "valid_from": g.valid_from,
        "valid_until": g.valid_until,
        "granted_at": g.granted_at,
        "granted_by": g.granted_by,
        "basis": g.basis,
        "note": g.note,
        "revoked_at": g.revoked_at,
        "revoked_by": g.revoked_by,
        "revoke_reason": g.revoke_reason,
    }


def check_json(decision: Decision, check_id: uuid.UUID | None) -> bytes:
    """A `CheckResult` as JSON bytes, without a pydantic round trip (the check is the hot path)."""
    body = {
        "outcome": decision.outcome,  # (orjson writes a StrEnum as its value)
        "action": decision.action,
        "at": decision.at,
        "contact_id": decision.contact_id,
        "grant_id": decision.grant_id,
        "reasons": [
            {
                "code": r.code,
                "message": r.message,
                "grant": _grant_json(r.grant) if r.grant is not None else None,
                "on": r.on,
                "by": r.by,
                "document_reference": r.document_reference,
            }
            for r in decision.reasons
        ],
        "check_id": check_id,
    }
    # default=str: asyncpg hands out its own UUID type, which orjson does not know.
    return orjson.dumps(body, option=orjson.OPT_UTC_Z, default=str)


def authorizations_out(state: AuthorizationsAt) -> AuthorizationsOut:
    return AuthorizationsOut(
        customer_number=state.customer_number,
        at=state.at,
        official_instruction=instruction_out(state.instruction),
        holders=[
            HolderOut(contact_id=h.contact_id, scopes=list(h.scopes), grants=[grant_out(g) for g in h.grants])
            for h in state.holders
        ],
    )
