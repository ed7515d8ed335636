"""ASGI middleware: request and correlation ids, access metrics, and a request body size limit.

Written as plain ASGI (not BaseHTTPMiddleware) because it runs on every request and must not
buffer bodies or add a task per request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from random import getrandbits
from typing import Any

import structlog
from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import metrics
from shared.http.access_log import DEFAULT_LINES_PER_S, AccessLogSampler
from shared.http.problems import dependency_away, failure_response, problem_response

log = structlog.get_logger(__name__)

_QUIET_ROUTES = ("/healthz", "/readyz", "/metrics")


def header_text(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _valid_id(value: str | None) -> str | None:
    # Echoing a caller's id into logs and events: accept only short, printable tokens.
    if value and len(value) <= 128 and value.isascii() and value.isprintable() and " " not in value:
        return value
    return None


def new_request_id() -> str:
    """A random UUID (version 4, RFC 4122 variant) as text, as `str(uuid.uuid4())` gives it but
    without building the object or asking the kernel for bytes (this runs on every request). An
    id, not a secret: `random` suffices (seeded from the OS in each process, again after a fork)."""
    h = f"{getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _correlation_id(correlation: str | None, request_id: str, generated: bool) -> str:
    """The caller's correlation id (normalised), else the request id; a UUID either way."""
    if correlation is None and generated:
        return request_id
    try:
        return str(uuid.UUID(correlation or request_id))
    except ValueError:
        return new_request_id()


def request_ids(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str]:
    """The request's id (the caller's X-Request-Id if usable, else a new one) and correlation id."""
    given = _valid_id(header_text(headers, b"x-request-id"))
    request_id = given or new_request_id()
    return request_id, _correlation_id(_valid_id(header_text(headers, b"x-correlation-id")), request_id, given is None)


class RequestMetrics:
    """A service's request counter and latency histogram for each answer, and its access log line
    (each server error and slow answer, others up to `access_lines_per_s` per route: `AccessLogSampler`)."""

    def __init__(self, service: str, access_lines_per_s: int = DEFAULT_LINES_PER_S) -> None:
        self.service = service
        self.access_log = AccessLogSampler(access_lines_per_s)
        # The metrics' children by label values (`labels()` locks and builds a key every call).
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    def observe(self, method: str, route: str, status: int, elapsed: float, **context: str) -> None:
        """`context`: what the access log line names beside what is bound for the request."""
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = metrics.HTTP_REQUESTS.labels(self.service, method, route, str(status))
            self._counters[(method, route, status)] = counter
        counter.inc()
        timer = self._timers.get((method, route))
        if timer is None:
            timer = self._timers[(method, route)] = metrics.HTTP_LATENCY.labels(self.service, method, route)
        timer.observe(elapsed)
        unlogged = self.access_log.admit(method, route, status, elapsed)
        if unlogged is None:
            return
        # With the ids bound for the request (probes and scrapes only at debug).
        access = log.debug if route.endswith(_QUIET_ROUTES) else log.info
        access(
            "http_request",
            method=method,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            **context,
            **({"unlogged": unlogged} if unlogged else {}),
        )


class RequestContextMiddleware:
    """Binds request_id / correlation_id for logs and handlers, and records metrics."""

    def __init__(self, app: ASGIApp, metrics: RequestMetrics) -> None:
        self.app = app
        self.metrics = metrics  # (the app's, shared with its hot routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id, correlation_id = request_ids(scope["headers"])
        scope.setdefault("state", {})
        scope["state"]["request_id"] = request_id
        scope["state"]["correlation_id"] = correlation_id
        status_holder = [0]  # 0: no response started yet
        started = time.perf_counter()
        ids = [(b"x-request-id", request_id.encode()), (b"x-correlation-id", correlation_id.encode())]

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), *ids]
            await send(message)

        # (bind/reset rather than the `bound_contextvars` context manager: a third of the cost)
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id, correlation_id=correlation_id)
        try:
            await self.app(scope, receive, send_with_ids)
        except Exception as exc:
            # Raised outside FastAPI's error middleware (a fast path) before any answer: the
            # same problem+json a route's error gets (503 for an outage, else 500).
            if status_holder[0] != 0:
                raise
            await failure_response(exc, scope["path"])(scope, receive, send_with_ids)
            if not dependency_away(exc):
                raise  # on to the server, which logs it as well
        finally:
            # The route's template, never the raw path: label values stay bounded.
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.observe(scope["method"], route, status_holder[0] or 500, time.perf_counter() - started)
            structlog.contextvars.reset_contextvars(**tokens)


class BodySizeLimitMiddleware:
    """Refuses bodies above `max_bytes` with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header_text(scope["headers"], b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._reject(scope, receive, send)
                return
            if header_text(scope["headers"], b"transfer-encoding") is None:
                # The server's parser hands on exactly the declared length: nothing to count.
                await self.app(scope, receive, send)
                return
        received = 0
        too_large = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise _BodyTooLarge()
            return message

        response_started = False

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(413, f"The request body exceeds {self.max_bytes} bytes.")
        await response(scope, receive, send)


class _BodyTooLarge(HTTPException):
    # An HTTPException so that FastAPI's body parsing re-raises it instead of turning it into a
    # 400, and the problem handler answers 413 wherever it surfaces.
    def __init__(self) -> None:
        super().__init__(413)
