"""`BodySizeLimitMiddleware`: bodies above the limit get 413, announced or streamed."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

from shared.http.middleware import BodySizeLimitMiddleware

LIMIT = 100


async def _post(chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes, bytes | None]:
    """Status and body answered, and the body the app read (None: it was not called)."""
    read: list[bytes] = []
    called = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal called
        called = True
        while True:
            message = await receive()
            read.append(message["body"])
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return pending.pop(0)

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers}
    await BodySizeLimitMiddleware(app, max_bytes=LIMIT)(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body, b"".join(read) if called else None


async def test_a_body_announced_within_the_limit_reaches_the_app_whole() -> None:
    status, _, read = await _post([b"a" * 60, b"b" * 40], [(b"content-length", b"100")])
    assert (status, read) == (200, b"a" * 60 + b"b" * 40)


async def test_a_body_announced_above_the_limit_is_refused_unread() -> None:
    status, body, read = await _post([b"a" * 101], [(b"content-length", b"101")])
    assert (status, read) == (413, None)
    assert json.loads(body)["status"] == 413


async def test_a_streamed_body_is_counted_as_it_arrives() -> None:
    chunked = [(b"transfer-encoding", b"chunked")]
    assert (await _post([b"a" * 50, b"b" * 50], chunked))[0] == 200
    status, body, _ = await _post([b"a" * 60, b"b" * 60], chunked)
    assert status == 413
    assert json.loads(body)["detail"] == f"The request body exceeds {LIMIT} bytes."
    # Both headers (a request smuggling pattern the parser may read either way): counted too.
    assert (await _post([b"a" * 60, b"b" * 60], [(b"content-length", b"10"), *chunked]))[0] == 413
