"""Every error answered as RFC 9457 `application/problem+json`; the one place errors map to HTTP.

DomainError subclasses -> 403 / 404 / 409 / 422 (see STATUS_FOR)
ConcurrencyConflict    -> 409, with the stream's expected version
RequestValidationError -> 400 for a body that is not JSON at all, 422 for wrong fields
HTTPException          -> its own status (404 for unknown routes, 405, 401, ...)
InfrastructureError    -> 503 with Retry-After, details only in the log (TemporarilyRefused: its detail)
the database away      -> the same (shared.db.is_outage)
anything else          -> 500, details only in the log
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.auth.dependencies import Unauthenticated
from shared.db import OUTAGE_TYPES, is_outage
from shared.errors import (
    ConcurrencyConflict,
    Conflict,
    DomainError,
    Forbidden,
    InfrastructureError,
    InvalidRequest,
    NotFound,
    TemporarilyRefused,
)

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"

STATUS_FOR: dict[type[DomainError], int] = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    InvalidRequest: 422,
}

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(BaseModel):
    """RFC 9457 problem details, as documented in every service's OpenAPI."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


def unexpected_error() -> JSONResponse:
    """The answer to a failure of ours: no detail of it reaches the caller (the log has it)."""
    return problem_response(500, "Something went wrong on our side.")


def unavailable() -> JSONResponse:
    """The answer while a dependency (the database, the mail server) is away: try again shortly."""
    return problem_response(503, "A dependency is unavailable; try again shortly.", headers={"Retry-After": "5"})


def dependency_away(exc: BaseException) -> bool:
    """Whether `exc` says a dependency (the database, the mail server) is away, not that our code is wrong."""
    return isinstance(exc, InfrastructureError) or is_outage(exc)


def failure_response(exc: Exception, path: str) -> JSONResponse:
    """The answer to an error no rule mapped, logged: 503 while a dependency is away, else 500. The
    app's handler for those, and the middleware's for what a fast path raises outside the app."""
    if isinstance(exc, TemporarilyRefused):
        log.warning("temporarily_refused", path=path, detail=exc.detail)
        return problem_response(
            503, exc.detail, headers={"Retry-After": str(exc.retry_after_s)}, extensions=exc.extensions
        )
    if dependency_away(exc):
        log.error("dependency_unavailable", path=path, error=repr(exc))
        return unavailable()
    log.exception("unhandled_error", path=path)
    return unexpected_error()


def problem_response(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title or _TITLES.get(status, "Error"), "status": status}
    if detail:
        body["detail"] = detail
    body.update(extensions or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _status_for(exc: DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_FOR:
            return STATUS_FOR[cls]
    return 400


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem_response(_status_for(exc), exc.detail, title=exc.title, extensions=exc.extensions)


async def _concurrency(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConcurrencyConflict)
    return problem_response(
        409,
        "The resource was changed by someone else. Reload it and try again.",
        title="Concurrent modification",
        extensions={"expected_version": exc.expected_version},
    )


def _message(error: Any) -> str:
    """pydantic's message, but a secret's length in characters: for a `SecretStr` it counts
    "items", which puzzles whoever typed an empty password."""
    kind, given, bounds = error.get("type"), error.get("input"), error.get("ctx") or {}
    if kind in ("too_short", "too_long") and isinstance(given, str):
        limit = bounds.get("min_length") if kind == "too_short" else bounds.get("max_length")
        if isinstance(limit, int):
            least_or_most = "at least" if kind == "too_short" else "at most"
            return f"String should have {least_or_most} {limit} character{'' if limit == 1 else 's'}"
    return str(error.get("msg", ""))


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"location": [str(p) for p in e.get("loc", ())], "message": _message(e), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(400, "The request body is not valid JSON.", extensions={"errors": errors})
    return problem_response(422, "The request has invalid fields.", extensions={"errors": errors})


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != _TITLES.get(exc.status_code) else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and isinstance(request.scope.get("app"), FastAPI):
        headers["Allow"] = _allowed(request.scope["app"], request.url.path) or headers.get("Allow", "")
    return problem_response(exc.status_code, detail, headers=headers)


def _allowed(app: FastAPI, path: str) -> str:
    """Every method of the resource (RFC 9110: a 405 names them all). Starlette names only those of
    the first route that matched the path, and a path here often has a route per method."""
    for template, operations in app.openapi()["paths"].items():
        pattern = _TEMPLATES.get(template)
        if pattern is None:
            pattern = _TEMPLATES[template] = re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))
        if pattern.fullmatch(path):
            return ", ".join(sorted(method.upper() for method in operations))  # (FastAPI serves no HEAD)
    return ""


_TEMPLATES: dict[str, re.Pattern[str]] = {}


async def _failure(request: Request, exc: Exception) -> JSONResponse:
    return failure_response(exc, request.url.path)


async def _unauthenticated(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(
        401, "A valid bearer token is required.", headers={"WWW-Authenticate": 'Bearer realm="hosting-accounts"'}
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Unauthenticated, _unauthenticated)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(ConcurrencyConflict, _concurrency)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    # Registered by type, not only as `Exception`: Starlette answers those itself and passes them
    # on to the server, which logs them as crashes (and a keep-alive connection may be dropped).
    away: tuple[type[Exception], ...] = (InfrastructureError, *OUTAGE_TYPES)
    for cls in away:
        app.add_exception_handler(cls, _failure)
    app.add_exception_handler(Exception, _failure)
