"""Request and correlation ids given to every request by `RequestContextMiddleware`."""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog

from shared.http.middleware import RequestContextMiddleware, RequestMetrics, new_request_id


async def _ids(headers: list[tuple[bytes, bytes]]) -> tuple[str, str, dict[str, Any]]:
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(structlog.contextvars.get_contextvars())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": headers}
    await RequestContextMiddleware(app, RequestMetrics("test"))(scope, receive, send)
    answered = dict(sent[0]["headers"])
    request_id, correlation_id = answered[b"x-request-id"].decode(), answered[b"x-correlation-id"].decode()
    assert seen == {"request_id": request_id, "correlation_id": correlation_id}  # bound for the logs
    assert structlog.contextvars.get_contextvars().get("request_id") is None  # and unbound afterwards
    return request_id, correlation_id, seen


def test_new_request_ids_are_random_version_4_uuids() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in list(ids)[:200]:
        parsed = uuid.UUID(text)
        assert (str(parsed), parsed.version, parsed.variant) == (text, 4, uuid.RFC_4122)


async def test_without_headers_the_request_id_is_new_and_correlates() -> None:
    request_id, correlation_id, _ = await _ids([])
    assert uuid.UUID(request_id).version == 4
    assert correlation_id == request_id
    assert (await _ids([]))[0] != request_id


async def test_a_callers_ids_are_kept_and_a_correlation_id_is_always_a_uuid() -> None:
    given = str(uuid.uuid4())
    assert (await _ids([(b"x-request-id", b"abc-123"), (b"x-correlation-id", given.upper().encode())]))[:2] == (
        "abc-123",
        given,  # normalised
    )
    request_id, correlation_id, _ = await _ids([(b"x-request-id", b"abc-123")])
    assert request_id == "abc-123"
    assert uuid.UUID(correlation_id).version == 4  # a request id that is no UUID cannot correlate events
    assert (await _ids([(b"x-request-id", given.encode())]))[:2] == (given, given)
    _, correlation_id, _ = await _ids([(b"x-correlation-id", b"nope")])
    assert uuid.UUID(correlation_id).version == 4
    request_id, _, _ = await _ids([(b"x-request-id", b"has space")])  # not echoed into logs
    assert uuid.UUID(request_id).version == 4


async def _answer_to_failure(failure: Exception) -> tuple[int, dict[bytes, bytes], bytes, Exception | None]:
    """What a fast path's exception (raised outside FastAPI's handlers) is answered with."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise failure

    sent: list[dict[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "PUT", "path": "/x", "headers": []}
    raised: Exception | None = None
    try:
        await RequestContextMiddleware(app, RequestMetrics("test"))(scope, receive, send)
    except Exception as exc:  # which one passes on is the point
        raised = exc
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"], raised


async def test_a_fast_path_meeting_a_database_outage_answers_503_with_retry_after() -> None:
    status, headers, body, raised = await _answer_to_failure(ConnectionRefusedError(111, "Connection refused"))
    assert (status, headers[b"content-type"], headers[b"retry-after"]) == (503, b"application/problem+json", b"5")
    assert b"A dependency is unavailable" in body
    assert raised is None  # an outage is no bug for the server's log


async def test_a_fast_path_bug_answers_500_and_goes_on_to_the_server() -> None:
    status, headers, body, raised = await _answer_to_failure(KeyError("oops"))
    assert (status, headers[b"content-type"]) == (500, b"application/problem+json")
    assert b"oops" not in body
    assert isinstance(raised, KeyError)
