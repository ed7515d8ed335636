"""Routes for customer accounts and the caller's own identity (staff users: `staff_users.py`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Header, Request, Response

from services.identity.api.edge import (
    AUTH_PROBLEMS,
    after_response,
    client_address,
    live_identity,
    too_many_attempts,
)
from services.identity.api.schemas import (
    Account,
    ChangeReferenceEmailRequest,
    Me,
    OpenAccountRequest,
    OwnPasswordChange,
)
from services.identity.domain import accounts
from services.identity.domain.events import SubjectKind
from services.identity.domain.throttle import Throttled
from services.identity.handlers import accounts as handlers
from services.identity.handlers import password_change
from services.identity.handlers.common import customer_number_of
from shared.auth import Role
from shared.auth.dependencies import CurrentPrincipal, ensure_customer_access, ensure_role
from shared.auth.principal import PrincipalKind
from shared.http.context import CustomerNumber, event_context
from shared.http.problems import Problem
from shared.http.versions import tag_in

CONFLICT: dict[int | str, dict[str, object]] = {409: {"model": Problem, "description": "Already exists"}}
NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": Problem, "description": "No such customer account"}}


def _account(view: handlers.AccountView) -> Account:
    a = view.account
    return Account(
        customer_number=a.customer_number,
        name=a.name,
        reference_email=a.reference_email,
        password_set=view.password_set,
        etag=a.reference_tag(),
    )


def router() -> APIRouter:
    api = APIRouter(prefix="/api/identity/v1", tags=["accounts"])

    @api.post(
        "/customers",
        status_code=201,
        response_model=Account,
        responses={**AUTH_PROBLEMS, **CONFLICT},
        summary="Open a customer account (admin); publishes CustomerAccountOpened",
    )
    async def open_account(
        body: OpenAccountRequest, principal: CurrentPrincipal, request: Request, response: Response
    ) -> Account:
        ensure_role(principal, Role.ADMIN)
        identity = await live_identity(request, principal)
        cmd = accounts.OpenCustomerAccount(body.customer_number, body.name, str(body.reference_email))
        context = event_context(request, body.customer_number, principal.actor)
        opened = await handlers.open_customer_account(identity, cmd, context)
        response.headers["Location"] = f"/api/identity/v1/customers/{opened.customer_number}"
        return _account(handlers.AccountView(opened, password_set=False))

    @api.get(
        "/customers/{customer_number}",
        response_model=Account,
        responses={**AUTH_PROBLEMS, **NOT_FOUND},
        summary="A customer account: the customer's own, or any for support, compliance and admin",
    )
    async def get_account(
        customer_number: CustomerNumber, principal: CurrentPrincipal, request: Request, response: Response
    ) -> Account:
        ensure_customer_access(principal, customer_number, Role.SUPPORT, Role.COMPLIANCE, Role.ADMIN)
        identity = await live_identity(request, principal)
        account = _account(await handlers.view_account(identity, customer_number))
        response.headers["ETag"] = account.etag
        return account

    @api.put(
        "/customers/{customer_number}/reference-email",
        response_model=Account,
        responses={
            **AUTH_PROBLEMS,
            **NOT_FOUND,
            409: {"model": Problem, "description": "The address changed after the read that If-Match names"},
        },
        summary="Change the reference e-mail address (needs a login within the last 10 minutes)",
        description="Allowed to the customer and to support or admin staff; 403 when the login is not recent."
        " With If-Match (the account's ETag), a change made after that read is answered 409. The previous"
        " address is told (the new one masked), and a one-time password mailed to it no longer works.",
    )
    async def change_reference_email(
        customer_number: CustomerNumber,
        body: ChangeReferenceEmailRequest,
        principal: CurrentPrincipal,
        request: Request,
        response: Response,
        tasks: BackgroundTasks,
        if_match: Annotated[str | None, Header()] = None,
    ) -> Account:
        ensure_customer_access(principal, customer_number, Role.SUPPORT, Role.ADMIN)
        identity = await live_identity(request, principal)
        cmd = accounts.ChangeReferenceEmail(
            customer_number, str(body.reference_email), principal.auth_time, tag_in(if_match)
        )
        auth_time = principal.auth_time.isoformat() if principal.auth_time else None
        context = event_context(request, customer_number, principal.actor, authenticated_at=auth_time)
        notice = await handlers.change_reference_email(identity, cmd, context)
        if notice is not None:
            mail = notice
            after_response(tasks, "reference_email_changed_notice", lambda: identity.mailer.send(mail))
        account = _account(await handlers.view_account(identity, customer_number))
        response.headers["ETag"] = account.etag
        return account

    @api.get(
        "/me",
        response_model=Me,
        responses=AUTH_PROBLEMS,
        summary="Who the bearer token says the caller is",
    )
    async def me(principal: CurrentPrincipal, request: Request) -> Me:
        await live_identity(request, principal)
        return Me(
            subject=principal.subject,
            kind=principal.kind.value,
            roles=sorted(r.value for r in principal.roles),
            session_id=principal.session_id,
            auth_time=principal.auth_time,
        )

    @api.put(
        "/me/password",
        status_code=204,
        responses={
            **AUTH_PROBLEMS,
            403: {"model": Problem, "description": "The current password is wrong"},
            409: {"model": Problem, "description": "The password was changed meanwhile"},
            429: {"model": Problem, "description": "Too many failed attempts; see Retry-After"},
        },
        summary="Change the caller's own password (customers and staff), giving the current one",
        description="Ends every other session of the caller; this one stays. Customers get a notice mail. "
        "Wrong current passwords count against the same throttle as failed logins.",
    )
    async def change_own_password(
        body: OwnPasswordChange, principal: CurrentPrincipal, request: Request, tasks: BackgroundTasks
    ) -> Response:
        identity = await live_identity(request, principal)  # (so the session id is a valid UUID too)
        kind: SubjectKind = "customer" if principal.kind is PrincipalKind.CUSTOMER else "staff"
        context = event_context(request, customer_number_of(kind, principal.subject), principal.actor)
        cmd = password_change.ChangeOwnPassword(
            kind,
            principal.subject,
            uuid.UUID(principal.session_id or ""),
            body.current_password.get_secret_value(),
            body.new_password.get_secret_value(),
            client_address(request),
        )
        outcome = await password_change.change_own_password(identity, cmd, context)
        if isinstance(outcome, Throttled):
            raise too_many_attempts(outcome.until, context.occurred_at)
        if outcome is not None:
            notice = outcome
            after_response(tasks, "password_changed_notice", lambda: identity.mailer.send(notice))
        return Response(status_code=204)

    return api
