"""Small helpers of identity's routes: the client address, fresh sessions, after-response work."""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog
from fastapi import BackgroundTasks, HTTPException, Request
from fastapi.responses import JSONResponse

from services.identity.adapters import session_store
from services.identity.runtime import IdentityRuntime, identity_of
from shared.auth.dependencies import Unauthenticated
from shared.auth.principal import Principal
from shared.http.problems import Problem, problem_response

log = structlog.get_logger(__name__)

PROBLEMS: dict[int | str, dict[str, object]] = {
    400: {"model": Problem, "description": "Malformed request"},
    413: {"model": Problem, "description": "Body too large"},
    422: {"model": Problem, "description": "Invalid fields, or a rule refused the request"},
}
AUTH_PROBLEMS: dict[int | str, dict[str, object]] = {
    **PROBLEMS,
    401: {"model": Problem, "description": "No valid bearer token, or the session has ended"},
    403: {"model": Problem, "description": "The caller's role does not allow this"},
}

LOGIN_REFUSED = "The customer number (or user name) or the password is wrong."


def client_address(request: Request) -> str | None:
    # Behind the gateway uvicorn puts the forwarded address here (proxy headers from trusted hops).
    return request.client.host if request.client else None


def login_refused() -> JSONResponse:
    """One refusal for every cause: unknown name, no password yet, wrong password.

    Returned rather than raised, so that the route's after-response work (the audit events)
    stays attached to it.
    """
    return problem_response(401, LOGIN_REFUSED)


def session_refused() -> HTTPException:
    """One refusal for every dead refresh token: unknown, expired, revoked or reused."""
    return HTTPException(401, detail="The refresh token is not valid (any more). Log in again.")


def too_many_attempts(until: datetime, now: datetime) -> HTTPException:
    retry_after = max(1, math.ceil((until - now).total_seconds()))
    return HTTPException(
        429, detail="Too many failed attempts. Wait a moment and try again.", headers={"Retry-After": str(retry_after)}
    )


async def live_identity(request: Request, principal: Principal) -> IdentityRuntime:
    """Identity's runtime, once the token's session proved live: identity itself also checks that
    the session was not revoked (others cannot)."""
    identity = identity_of(request)
    try:
        session_id = uuid.UUID(principal.session_id or "")
    except ValueError:
        raise Unauthenticated("token without session") from None
    if not await session_store.is_active(identity.pool, session_id, identity.clock.now()):
        raise Unauthenticated("session ended")
    return identity


def after_response(tasks: BackgroundTasks, what: str, work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` once the response is sent; a failure is logged (by kind only), never raised."""

    async def guarded() -> None:
        try:
            await work()
        except Exception as exc:  # the caller has its answer; the log is the only place left
            log.error("background_work_failed", work=what, error=type(exc).__name__)

    tasks.add_task(guarded)
