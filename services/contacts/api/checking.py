"""The authorization check itself, shared by its FastAPI route and its fast path (`fast_check.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.contacts.api.schemas import CheckBody
from shared.authorization.decision import Decision, decide
from shared.authorization.identifiers import InvalidIdentifier, Requester, RequesterKind
from shared.authorization.queries import AuthorizationReader
from shared.errors import InvalidRequest

# "As of" an instant in the future would be a forecast, not a record; a little clock skew is fine.
FUTURE_TOLERANCE = timedelta(seconds=60)


def instant(at: datetime | None, now: datetime) -> datetime:
    if at is None:
        return now
    if at > now + FUTURE_TOLERANCE:
        raise InvalidRequest("`at` lies in the future")
    return at


def reader_of(runtime: Any) -> AuthorizationReader:
    reader: AuthorizationReader = runtime.extras["authorization_reader"]
    return reader


@dataclass(frozen=True, slots=True)
class Check:
    decision: Decision
    requester_kind: RequesterKind
    requester_heard: str  # as support heard it
    requester: Requester  # normalised


async def run_check(runtime: Any, customer_number: str, body: CheckBody) -> Check:
    """Find the person and decide; raises InvalidRequest for an unreadable requester or a future `at`."""
    at = instant(body.at, runtime.clock.now())
    kind, raw = body.requester.as_heard()
    try:
        requester = Requester.heard(kind, raw)
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"requester: {exc}") from None
    decision = decide(await reader_of(runtime).view(customer_number, requester, at), body.action.value, at)
    return Check(decision, kind, raw, requester)
