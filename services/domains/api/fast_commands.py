"""The hot commands' fast path: a new vhost or redirect, handled without FastAPI's machinery.

`POST .../customers/{n}/domains/{domain}/vhosts` and `PUT .../domains/{domain}/redirects/{host}`
are what portals and support send most. FastAPI's routing, dependency injection and response
wrappers cost more CPU than the command itself (about half of the API's time per command in a
profile), so this ASGI middleware runs the very commands the routes in `hosting.py` run
(`vhost_command`, `redirect_command`: the same body models, parsers, authorization, handler and
answer); errors are rendered by the app's own exception handlers
(the problem+json mapping). It runs inside the kernel's request-id, metrics and body-limit
middlewares.

Whatever could still be answered differently by the route goes on to it untouched (the body
replayed), always before anything is recorded: a missing or invalid token, a customer number,
body or name that does not validate, a header FastAPI would refuse. So every validation error
still comes out exactly as the route documents it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.domains.api.hosting import HotCommand, redirect_command, vhost_command
from services.domains.api.schemas import RedirectBody, VhostBody
from shared.errors import DomainError
from shared.http.fast_path import (
    MatchedRoute,
    bearer_principal,
    header,
    is_customer_number,
    read_body,
    replaying,
    send_json,
    sends_json,
)
from shared.http.versions import tag_in

PREFIX = "/api/domains/v1/customers/"
_ON_BEHALF_OF_MAX = 400  # the route's header limit


_VHOSTS = MatchedRoute(PREFIX + "{customer_number}/domains/{domain}/vhosts")
_REDIRECT = MatchedRoute(PREFIX + "{customer_number}/domains/{domain}/redirects/{source_host}")


@dataclass(frozen=True, slots=True)
class _Target:
    route: MatchedRoute
    customer_number: str
    domain: str
    source_host: str | None = None


def _target(method: str, path: str) -> _Target | None:
    if not path.startswith(PREFIX):
        return None
    parts = path[len(PREFIX) :].split("/")
    if len(parts) < 4 or not is_customer_number(parts[0]):
        return None
    if parts[1] != "domains" or not parts[2]:
        return None
    if method == "POST" and len(parts) == 4 and parts[3] == "vhosts":
        return _Target(_VHOSTS, parts[0], parts[2])
    if method == "PUT" and len(parts) == 5 and parts[3] == "redirects" and parts[4]:
        return _Target(_REDIRECT, parts[0], parts[2], parts[4])
    return None


def _command(scope: Scope, target: _Target, body: bytes) -> HotCommand:
    """Validated now: a failure hands the request to the route, before anything is recorded."""
    if target.route is _VHOSTS:
        return vhost_command(target.customer_number, target.domain, VhostBody.model_validate_json(body))
    assert target.source_host is not None
    redirect = RedirectBody.model_validate_json(body)
    expected = tag_in(header(scope, b"if-match"))
    return redirect_command(target.customer_number, target.domain, target.source_host, redirect, expected)


class FastCommands:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = _target(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if target is None or not sends_json(scope):
            await self.app(scope, receive, send)
            return
        principal = await bearer_principal(scope)
        on_behalf_of = header(scope, b"on-behalf-of")
        if principal is None or (on_behalf_of is not None and len(on_behalf_of) > _ON_BEHALF_OF_MAX):
            await self.app(scope, receive, send)  # the route answers 401 / 422
            return
        body = await read_body(receive)
        if body is None:
            return
        try:
            command = _command(scope, target, body)
        except (ValidationError, DomainError):
            await self.app(scope, replaying(body, receive), send)  # the route's own 4xx
            return
        # From here on the command runs (a refusal is recorded): the answer is ours.
        request = Request(scope, replaying(body, receive))
        scope["route"] = target.route
        try:
            changed = await command.run(request, principal, on_behalf_of)
        except Exception as exc:
            response = await self._problem(scope, request, exc)
            await response(scope, receive, send)
            return
        answer = changed.model_dump_json().encode()
        if command.created is None:
            await send_json(send, 200, answer)
        else:
            location = f"{request.url.path}/{command.created}".encode("latin-1")
            await send_json(send, 201, answer, [(b"location", location)])

    async def _problem(self, scope: Scope, request: Request, exc: Exception) -> Response:
        """The app's own handler for `exc` (as the route's errors get); anything unmapped goes on up."""
        registered: dict[Any, Any] = scope["app"].exception_handlers
        for cls in type(exc).__mro__:
            if cls is Exception:
                break
            handler = registered.get(cls)
            if handler is not None:
                response: Response = await handler(request, exc)
                return response
        raise exc
