"""The check's fast path: a customer asking about its own people, answered without FastAPI.

The check is the hot path (thousands per second per process). FastAPI's dependency injection,
request object and response wrappers cost several times the decision itself, so this ASGI
middleware answers the common case directly: `POST /api/contacts/v1/customers/{n}/authorization-checks`
with customer n's own token and a JSON body that validates as `CheckBody`. It runs the same
`run_check` and renders the same `check_json` as the route, inside the same request-id, metrics
and body-limit middlewares.

Everything else goes on to the FastAPI route untouched, the body replayed if it was read: support's
checks (recorded as events), another customer's number, a missing or bad token, a body or
requester that does not validate. So every error still comes out as the route documents it.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from services.contacts.api.checking import run_check
from services.contacts.api.schemas import CheckBody
from services.contacts.api.views import check_json
from shared.errors import InvalidRequest
from shared.http.fast_path import (
    MatchedRoute,
    bearer_principal,
    is_customer_number,
    read_body,
    replaying,
    send_json,
    sends_json,
)

PREFIX = "/api/contacts/v1/customers/"
SUFFIX = "/authorization-checks"
_MATCHED = MatchedRoute(PREFIX + "{customer_number}" + SUFFIX)


def _customer_number(path: str) -> str | None:
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    number = path[len(PREFIX) : -len(SUFFIX)]
    return number if is_customer_number(number) else None


class FastCheck:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        number = _customer_number(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if number is None or not sends_json(scope):
            await self.app(scope, receive, send)
            return
        principal = await bearer_principal(scope)
        if principal is None or not principal.is_customer(number):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return
        scope["route"] = _MATCHED  # (the route sets its own if the request goes on to it)
        try:
            check = await run_check(scope["app"].state.runtime, number, CheckBody.model_validate_json(body))
        except (ValidationError, InvalidRequest):
            await self.app(scope, replaying(body, receive), send)
            return
        await send_json(send, 200, check_json(check.decision, None))
