"""Pieces for a service's ASGI fast path: a hot route answered without FastAPI's machinery.

A fast path (contacts' check, domains' hot commands) runs inside the kernel's request-id,
metrics and body-limit middlewares (`ServiceSpec.http_middleware`), handles only requests it
can answer exactly as the route would, and hands everything else to the route with the body
replayed. These are the steps every such path needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from starlette.types import Message, Receive, Scope, Send

from shared.auth.principal import Principal
from shared.auth.verifier import InvalidToken
from shared.http.middleware import header_text

JSON = "application/json"


@dataclass(frozen=True, slots=True)
class MatchedRoute:
    """Put in `scope["route"]`: the request metrics label a request by its route's template."""

    path: str


def is_customer_number(text: str) -> bool:
    """The routes' path pattern ^[0-9]{4,12}$ (ASCII digits only)."""
    return 4 <= len(text) <= 12 and text.isascii() and text.isdigit()


def header(scope: Scope, name: bytes) -> str | None:
    return header_text(scope["headers"], name)


def is_json(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """The request says its body is JSON."""
    return (header_text(headers, b"content-type") or "").startswith(JSON)


def sends_json(scope: Scope) -> bool:
    return is_json(scope["headers"])


def bearer_token(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if there is one."""
    scheme, _, token = (header_text(headers, b"authorization") or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


async def bearer_principal(scope: Scope) -> Principal | None:
    """The verified caller, or None for a missing or invalid token (the route answers 401)."""
    token = bearer_token(scope["headers"])
    if token is None:
        return None
    try:
        principal: Principal = await scope["app"].state.runtime.verifier.verify(token)
    except InvalidToken:
        return None
    return principal


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands out the body already read, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def send_json(send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    start = [*headers, (b"content-length", str(len(body)).encode()), (b"content-type", JSON.encode())]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})
