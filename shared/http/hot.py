"""Hot routes: a service's most frequent read answered inside the HTTP protocol, without ASGI.

Each request on the ASGI path costs uvicorn a scope, a request/response cycle, an event, a task
and its callbacks, and the app a chain of coroutines and `send` wrappers: measured on contacts'
check, more CPU than finding the person and deciding. A hot route is a synchronous function
over a process-local read model that answers a request from its path, headers and body, or
declines. The protocol here asks it once the whole request has been read; whatever it declines
goes the ordinary way (the app sees the request as if nothing had looked at it), so every
error, and every case the hot route does not know, is answered by the service's routes.

A hot answer gets what every answer gets from the kernel: request and correlation ids (response
headers, and in the kernel's log lines for it: a hot route itself does not log), the request
metrics under the route's template, the access log line, uvicorn's default headers; and a
request the route fails on is answered with the problem+json 500 and logged. Only reads belong
here: nothing may wait, and nothing is written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from shared.http.middleware import RequestMetrics, request_ids
from shared.http.problems import unexpected_error
from shared.http.protocol import GatheringHttpToolsProtocol, GatheringTransport

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class HotRequest:
    method: bytes
    url: bytes  # as sent: path and query
    headers: list[tuple[bytes, bytes]]  # names lower-cased
    body: bytes


class HotRoute(Protocol):
    template: str  # the route's path template, as the metrics label it

    def takes(self, method: bytes, url: bytes) -> bool:
        """Cheap, from the request line alone: is this request one the route may answer?"""

    def answer(self, state: Any, request: HotRequest) -> bytes | None:
        """The JSON body of a 200 answer, or None: the app answers instead. `state`: the app's."""


@dataclass(frozen=True)
class HotRoutes:
    """What a service's app hands the protocol (`KernelApp.hot_routes`)."""

    routes: Sequence[HotRoute]
    state: Any  # the app's state: its runtime is there once the app has started
    max_body_bytes: int
    metrics: RequestMetrics


_ERROR = bytes(unexpected_error().body)


_rendered: list[Any] = [None, b""]  # uvicorn's default headers as last rendered: (list, bytes)


def _hot_routes_of(app: Any) -> HotRoutes | None:
    # uvicorn wraps the app (proxy headers, message logging): look through its wrappers.
    for _ in range(4):
        routes = getattr(app, "hot_routes", None)
        if isinstance(routes, HotRoutes):
            return routes if routes.routes else None  # (none: the protocol need not look)
        app = getattr(app, "app", None)
    return None


class HotRouteProtocol(GatheringHttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hot = _hot_routes_of(self.app)
        self._taken: HotRoute | None = None
        self._body: list[bytes] = []
        self._body_size = 0

    def on_headers_complete(self) -> None:
        route = self._route_for_request() if self._hot is not None else None
        if route is None:
            super().on_headers_complete()
            return
        self._taken = route  # read the body first; the ASGI path starts only if the route declines
        self._body = []
        self._body_size = 0

    def _route_for_request(self) -> HotRoute | None:
        assert self._hot is not None
        if self.expect_100_continue or (self.cycle is not None and not self.cycle.response_complete):
            return None  # a client waiting for "100 Continue", or pipelined behind a running request
        if self.parser.should_upgrade():
            return None
        method = self.parser.get_method()
        for route in self._hot.routes:
            if route.takes(method, self.url):
                return route
        return None

    def on_body(self, body: bytes) -> None:
        if self._taken is None:
            super().on_body(body)
            return
        self._body.append(body)
        self._body_size += len(body)
        assert self._hot is not None
        if self._body_size > self._hot.max_body_bytes:
            self._hand_on()  # too large for us: the app refuses it as it refuses any such body

    def on_message_complete(self) -> None:
        route = self._taken
        if route is None:
            super().on_message_complete()
            return
        self._taken = None
        assert self._hot is not None
        started = time.perf_counter()
        request = HotRequest(self.parser.get_method(), self.url, self.headers, b"".join(self._body))
        request_id, correlation_id = request_ids(self.headers)
        # (Not bound as log context, a microsecond per request: the route does not log, and the
        # kernel's lines for the request name the ids themselves.)
        ids = {"request_id": request_id, "correlation_id": correlation_id}
        try:
            answer = route.answer(self._hot.state, request)
        except Exception:
            log.exception("unhandled_error", path=route.template, **ids)
            status, answer, content_type = 500, _ERROR, b"application/problem+json"
        else:
            if answer is None:
                self._hand_on(request.body)
                return
            status, content_type = 200, b"application/json"
        self._respond(status, answer, content_type, request_id, correlation_id)
        self._hot.metrics.observe(request.method.decode(), route.template, status, time.perf_counter() - started, **ids)

    def _default_headers(self) -> bytes:
        # uvicorn renews the list (its date) once a second: rendered once per list, not per answer.
        given = self.server_state.default_headers
        if given is not _rendered[0]:
            _rendered[:] = [given, b"".join(name + b": " + value + b"\r\n" for name, value in given)]
        rendered: bytes = _rendered[1]
        return rendered

    def _hand_on(self, body: bytes | None = None) -> None:
        """Start the ordinary ASGI path for the request read so far, as uvicorn would have."""
        self._taken = None
        pending = b"".join(self._body) if body is None else body
        self._body = []
        super().on_headers_complete()
        if pending:
            super().on_body(pending)
        if body is not None:
            super().on_message_complete()

    def _respond(self, status: int, body: bytes, content_type: bytes, request_id: str, correlation_id: str) -> None:
        keep_alive = self.parser.should_keep_alive()
        head = [
            b"HTTP/1.1 200 OK\r\n" if status == 200 else b"HTTP/1.1 500 Internal Server Error\r\n",
            b"content-type: ", content_type, b"\r\ncontent-length: ", str(len(body)).encode(), b"\r\n",
            b"x-request-id: ", request_id.encode(), b"\r\nx-correlation-id: ", correlation_id.encode(), b"\r\n",
        ]  # fmt: skip
        head.append(self._default_headers())
        if not keep_alive:
            head.append(b"connection: close\r\n")
        head += [b"\r\n", body]
        transport: GatheringTransport = self.transport  # type: ignore[assignment]
        transport.write_now(b"".join(head))
        if not keep_alive:
            self.transport.close()
        # uvicorn's own bookkeeping, as after any answer: the request count (for --limit-max-requests),
        # the keep-alive timer, paused reads (it returns early if the connection is closing)
        self.on_response_complete()
