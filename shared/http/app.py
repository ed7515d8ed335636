"""A service's FastAPI app with the kernel's request middlewares outside FastAPI's own stack.

Starlette puts whatever `add_middleware` adds inside its error middleware, so a hot route's fast
path (contacts' check, domains' commands) passed four more ASGI layers, each wrapping `send`,
before it answered: measured, several microseconds of a check that costs tens. Here the order
is: request ids and metrics, body limit, the service's fast paths, then FastAPI (its error
middleware, exception handlers and routes). An exception escaping a fast path is answered
with the same problem+json 500 by `RequestContextMiddleware`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp

from shared.http.access_log import DEFAULT_LINES_PER_S
from shared.http.hot import HotRoute, HotRoutes
from shared.http.middleware import BodySizeLimitMiddleware, RequestContextMiddleware, RequestMetrics


class KernelApp(FastAPI):
    def __init__(
        self,
        *,
        service: str,
        max_body_bytes: int,
        fast_paths: Sequence[Callable[[ASGIApp], ASGIApp]] = (),
        hot_routes: Sequence[HotRoute] = (),
        access_log_per_s: int = DEFAULT_LINES_PER_S,
        **fastapi: Any,
    ) -> None:
        super().__init__(**fastapi)
        self._fast_paths = tuple(fast_paths)
        # What the HTTP protocol answers itself (`shared.http.hot`), with the app's state; its body
        # limit and metrics are the app's too.
        request_metrics = RequestMetrics(service, access_log_per_s)
        self.hot_routes = HotRoutes(tuple(hot_routes), self.state, max_body_bytes, request_metrics)

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for fast_path in self._fast_paths:  # the first listed ends up innermost
            app = fast_path(app)
        app = BodySizeLimitMiddleware(app, max_bytes=self.hot_routes.max_body_bytes)
        return RequestContextMiddleware(app, self.hot_routes.metrics)
