"""Routes for logging in (customers and staff), refreshing and logging out."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import JSONResponse

from services.identity.api.edge import (
    PROBLEMS,
    after_response,
    client_address,
    login_refused,
    session_refused,
    too_many_attempts,
)
from services.identity.api.schemas import CustomerLogin, RefreshRequest, StaffLogin, TokenPair
from services.identity.domain.events import SubjectKind
from services.identity.domain.throttle import Throttled
from services.identity.handlers import login, sessions
from services.identity.handlers.common import IDENTITY_ACTOR, IssuedTokens
from services.identity.runtime import identity_of
from shared.http.context import event_context
from shared.http.problems import Problem

LOGIN_PROBLEMS: dict[int | str, dict[str, object]] = {
    **PROBLEMS,
    401: {"model": Problem, "description": "Wrong name or password (one answer for every cause)"},
    429: {"model": Problem, "description": "Too many failed attempts; see Retry-After"},
}


def _pair(tokens: IssuedTokens, response: Response) -> TokenPair:
    # Tokens must not be kept by browsers or proxies (RFC 6749, section 5.1).
    response.headers["Cache-Control"] = "no-store"
    return TokenPair(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
        refresh_expires_at=tokens.refresh_expires_at,
        session_id=tokens.session_id,
    )


async def _log_in(
    request: Request, response: Response, tasks: BackgroundTasks, kind: SubjectKind, subject: str, password: str
) -> TokenPair | JSONResponse:
    identity = identity_of(request)
    context = event_context(request, subject, IDENTITY_ACTOR)
    cmd = login.LogIn(kind, subject, password, client_address(request))
    outcome = await login.log_in(identity, cmd, context)
    if isinstance(outcome, Throttled):
        raise too_many_attempts(outcome.until, context.occurred_at)
    if isinstance(outcome, login.FailedLogin):
        failed = outcome
        after_response(tasks, "record_failed_login", lambda: login.record_failed_login(identity, failed, context))
        return login_refused()
    return _pair(outcome, response)


def router() -> APIRouter:
    api = APIRouter(prefix="/api/identity/v1", tags=["sessions"])

    @api.post(
        "/sessions",
        status_code=201,
        response_model=TokenPair,
        responses=LOGIN_PROBLEMS,
        summary="Log in as a customer (customer number and password)",
    )
    async def customer_login(
        body: CustomerLogin, request: Request, response: Response, tasks: BackgroundTasks
    ) -> TokenPair | JSONResponse:
        password = body.password.get_secret_value()
        return await _log_in(request, response, tasks, "customer", body.customer_number, password)

    @api.post(
        "/staff-sessions",
        status_code=201,
        response_model=TokenPair,
        responses=LOGIN_PROBLEMS,
        summary="Log in as a staff user (support, compliance, admin)",
    )
    async def staff_login(
        body: StaffLogin, request: Request, response: Response, tasks: BackgroundTasks
    ) -> TokenPair | JSONResponse:
        return await _log_in(request, response, tasks, "staff", body.username, body.password.get_secret_value())

    @api.post(
        "/sessions/refresh",
        response_model=TokenPair,
        responses={**PROBLEMS, 401: LOGIN_PROBLEMS[401]},
        summary="Exchange a refresh token for a new pair (the presented one is spent)",
        description="Presenting a spent refresh token again revokes the whole session.",
    )
    async def refresh(body: RefreshRequest, request: Request, response: Response) -> TokenPair:
        identity = identity_of(request)
        context = event_context(request, "0", IDENTITY_ACTOR)
        tokens = await sessions.refresh(
            identity, body.refresh_token.get_secret_value(), client_address(request), context
        )
        if tokens is None:
            raise session_refused()
        return _pair(tokens, response)

    @api.post(
        "/sessions/logout",
        status_code=204,
        responses=PROBLEMS,
        summary="End the session of a refresh token (204 whether or not the token was known)",
    )
    async def logout(body: RefreshRequest, request: Request) -> Response:
        identity = identity_of(request)
        context = event_context(request, "0", IDENTITY_ACTOR)
        await sessions.log_out(identity, body.refresh_token.get_secret_value(), context)
        return Response(status_code=204)

    return api
