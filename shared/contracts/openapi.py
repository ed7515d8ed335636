"""Completes the OpenAPI 3.1 document FastAPI generates for a service, once, at first request.

FastAPI derives paths, parameters, bodies and success responses from the routes' pydantic
models, and the bearer security requirement from `shared.auth`'s `HTTPBearer` dependency. What
it cannot know comes from the kernel's conventions and is added here:

* every error status the kernel itself answers, on every operation where it can happen:
  401 (protected operations), 400 / 413 / 422 (a request body), 422 (parameters), 500 (any);
* every error response (the routes' own `responses=` too) as `application/problem+json` with
  the `Problem` schema, instead of FastAPI's `application/json` and its `HTTPValidationError`
  (our 422 is a problem document with an `errors` list);
* the `X-Request-ID` / `X-Correlation-ID` request headers the middleware honours and the response
  headers it sets, and the `WWW-Authenticate` challenge of a 401.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

from shared.http.problems import PROBLEM_JSON, Problem

PROBLEM_REF = "#/components/schemas/Problem"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

DEFAULT_DESCRIPTIONS = {
    400: "The body is not valid JSON",
    401: "Missing or invalid bearer token (see WWW-Authenticate)",
    413: "The body is larger than the service accepts",
    422: "Invalid fields or parameters (`errors` lists them)",
    500: "Unexpected error on our side (details only in the service's log)",
}

_REQUEST_HEADERS: dict[str, dict[str, Any]] = {
    "RequestId": {
        "name": "X-Request-ID",
        "in": "header",
        "required": False,
        "description": "The caller's id for this request (printable ASCII, at most 128 characters); new if absent.",
        "schema": {"type": "string", "maxLength": 128},
    },
    "CorrelationId": {
        "name": "X-Correlation-ID",
        "in": "header",
        "required": False,
        "description": "A UUID tying this request to others of one process; it goes into the events this "
        "request causes (`ce_correlationid`) and into every log line. Defaults to the request id.",
        "schema": {"type": "string", "format": "uuid"},
    },
}
_RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {"description": "The request's id (the caller's, or a new one)", "schema": {"type": "string"}},
    "X-Correlation-ID": {"description": "The correlation id in effect", "schema": {"type": "string"}},
}
_CHALLENGE = {
    "description": 'Bearer challenge: `Bearer realm="hosting-accounts"`',
    "schema": {"type": "string"},
}


def install(app: FastAPI) -> None:
    """Make `app.openapi()` return the completed document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) of every operation in the document."""
    return [
        (method.upper(), path, op)
        for path, item in document.get("paths", {}).items()
        for method, op in item.items()
        if method in _METHODS
    ]


def is_problem_response(response: dict[str, Any]) -> bool:
    content = response.get("content", {})
    return set(content) == {PROBLEM_JSON} and content[PROBLEM_JSON].get("schema") == {"$ref": PROBLEM_REF}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.setdefault("Problem", Problem.model_json_schema(ref_template="#/components/schemas/{model}"))
    components.setdefault("parameters", {}).update(_REQUEST_HEADERS)
    components.setdefault("headers", {}).update(_RESPONSE_HEADERS)
    for _, _, op in operations(document):
        _complete_operation(op)
    _drop_validation_schemas_if_unused(document)
    return document


def _complete_operation(op: dict[str, Any]) -> None:
    responses: dict[str, Any] = op.setdefault("responses", {})
    has_body = "requestBody" in op
    has_parameters = bool(op.get("parameters"))
    statuses = [500]
    if op.get("security"):
        statuses.append(401)
    if has_body:
        statuses += [400, 413, 422]
    if has_parameters:
        statuses.append(422)
    for default in statuses:
        responses.setdefault(str(default), {"description": DEFAULT_DESCRIPTIONS[default]})
    for status, response in responses.items():
        if status[0] in "45" and _is_error_body(response):
            response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
        headers = response.setdefault("headers", {})
        for name in _RESPONSE_HEADERS:
            headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})
        if status == "401":
            headers.setdefault("WWW-Authenticate", _CHALLENGE)
    op["responses"] = dict(sorted(responses.items()))
    parameters = op.setdefault("parameters", [])
    for key in _REQUEST_HEADERS:
        ref = {"$ref": f"#/components/parameters/{key}"}
        if ref not in parameters:
            parameters.append(ref)


def _is_error_body(response: dict[str, Any]) -> bool:
    """A response documented without a body, or with the problem / FastAPI validation schema."""
    content = response.get("content")
    if not content:
        return True
    schemas = [media.get("schema", {}) for media in content.values()]
    return all(s.get("$ref") in (PROBLEM_REF, "#/components/schemas/HTTPValidationError") for s in schemas)


def _drop_validation_schemas_if_unused(document: dict[str, Any]) -> None:
    # FastAPI's own 422 schemas, left behind once every 422 is a problem document.
    names = ("HTTPValidationError", "ValidationError")
    schemas = document["components"]["schemas"]
    rest = {k: v for k, v in schemas.items() if k not in names}
    text = json.dumps({**document, "components": {**document["components"], "schemas": rest}})
    if not any(f'"#/components/schemas/{name}"' in text for name in names):
        for name in names:
            schemas.pop(name, None)
