"""Routes for the password reset by one-time password."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response

from services.identity.api.edge import PROBLEMS, after_response
from services.identity.api.schemas import PasswordResetAccepted, PasswordResetConfirmation, PasswordResetRequest
from services.identity.handlers import password_reset
from services.identity.handlers.common import IDENTITY_ACTOR
from services.identity.runtime import identity_of
from shared.http.context import event_context
from shared.http.problems import Problem


def router() -> APIRouter:
    api = APIRouter(prefix="/api/identity/v1", tags=["password reset"])

    @api.post(
        "/password-resets",
        status_code=202,
        response_model=PasswordResetAccepted,
        responses=PROBLEMS,
        summary="Ask for a one-time password by e-mail",
        description="Always 202 with the same body, whether or not the account exists.",
    )
    async def request_reset(
        body: PasswordResetRequest, request: Request, tasks: BackgroundTasks
    ) -> PasswordResetAccepted:
        identity = identity_of(request)
        context = event_context(request, body.customer_number, IDENTITY_ACTOR)
        # The work (account lookup, hashing, mail) happens after the answer has gone out, so
        # neither the answer nor its timing says whether the account exists.
        after_response(
            tasks,
            "request_password_reset",
            lambda: password_reset.request_password_reset(identity, body.customer_number, context),
        )
        return PasswordResetAccepted()

    @api.post(
        "/password-resets/confirm",
        status_code=204,
        responses={**PROBLEMS, 409: {"model": Problem, "description": "The account changed meanwhile; retry"}},
        summary="Set a new password with the one-time password",
        description="Sets the password, ends every session and mails a notice. It does not log in.",
    )
    async def confirm_reset(body: PasswordResetConfirmation, request: Request, tasks: BackgroundTasks) -> Response:
        identity = identity_of(request)
        context = event_context(request, body.customer_number, IDENTITY_ACTOR)
        cmd = password_reset.ConfirmPasswordReset(
            body.customer_number, body.one_time_password.get_secret_value(), body.new_password.get_secret_value()
        )
        notice = await password_reset.confirm_password_reset(identity, cmd, context)
        after_response(tasks, "password_changed_notice", lambda: identity.mailer.send(notice))
        return Response(status_code=204)

    return api
