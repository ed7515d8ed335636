"""The authorization check itself, shared by its FastAPI route and its hot route (`hot_check.py`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.contacts.api.schemas import CheckBody
from shared.authorization.decision import Decision, decide
from shared.authorization.identifiers import InvalidIdentifier, Requester, RequesterKind
from shared.authorization.memory import AuthorizationMemory
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


def _requester(
    body: CheckBody, known_phone: Callable[[str], bool] | None = None
) -> tuple[RequesterKind, str, Requester]:
    kind, raw = body.requester.as_heard()
    try:
        return kind, raw, Requester.heard(kind, raw, known_phone)
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"requester: {exc}") from None


async def run_check(runtime: Any, customer_number: str, body: CheckBody) -> Check:
    """Find the person and decide; raises InvalidRequest for an unreadable requester or a future `at`.

    On the in-memory model, first wait until it holds every change committed before the check
    arrived: a revocation confirmed a moment ago must refuse (and be recorded as refusing)."""
    follower = runtime.extras.get("authorization_follower")
    if follower is not None:
        await follower.caught_up()
    at = instant(body.at, runtime.clock.now())
    kind, raw, requester = _requester(body)
    decision = decide(await reader_of(runtime).view(customer_number, requester, at), body.action.value, at)
    return Check(decision, kind, raw, requester)


def check_in_memory(memory: AuthorizationMemory, now: datetime, customer_number: str, body: CheckBody) -> Decision:
    """`run_check`'s decision on the process's own model, without waiting (contacts' hot route,
    which records nothing, so needs nothing else of the check)."""
    at = instant(body.at, now)
    customer = memory.customer(customer_number)
    _, _, requester = _requester(body, customer.knows_phone)
    return decide(customer.view(requester, at), body.action.value, at)
