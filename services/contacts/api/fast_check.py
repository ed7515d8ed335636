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

from dataclasses import dataclass

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.contacts.api.checking import run_check
from services.contacts.api.schemas import CheckBody
from services.contacts.api.views import check_json
from shared.auth.verifier import InvalidToken
from shared.errors import InvalidRequest

PREFIX = "/api/contacts/v1/customers/"
SUFFIX = "/authorization-checks"
_JSON_HEADERS = [(b"content-type", b"application/json")]


@dataclass(frozen=True, slots=True)
class _Route:
    path: str


_MATCHED = _Route(PREFIX + "{customer_number}" + SUFFIX)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _customer_number(path: str) -> str | None:
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    number = path[len(PREFIX) : -len(SUFFIX)]
    # The route's pattern ^[0-9]{4,12}$ (ASCII digits only).
    return number if 4 <= len(number) <= 12 and number.isascii() and number.isdigit() else None


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None  # the client went away
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class FastCheck:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        number = _customer_number(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if number is None or not (_header(scope, b"content-type") or b"").startswith(b"application/json"):
            await self.app(scope, receive, send)
            return
        authorization = _header(scope, b"authorization") or b""
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        runtime = scope["app"].state.runtime
        try:
            principal = await runtime.verifier.verify(token.strip()) if scheme.lower() == "bearer" else None
        except InvalidToken:
            principal = None
        if principal is None or not principal.is_customer(number):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return
        try:
            check = await run_check(runtime, number, CheckBody.model_validate_json(body))
        except (ValidationError, InvalidRequest):
            await self.app(scope, _replaying(body, receive), send)
            return
        scope["route"] = _MATCHED  # the request metrics label requests by route template
        answer = check_json(check.decision, None)
        headers = [(b"content-length", str(len(answer)).encode()), *_JSON_HEADERS]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})
