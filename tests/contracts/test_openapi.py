"""Each service's OpenAPI 3.1 document: valid, complete, with security and problem+json errors."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from openapi_spec_validator import validate

from shared.auth.dependencies import CurrentPrincipal, current_principal
from shared.auth.principal import Principal
from shared.auth.testing import TestTokenIssuer
from shared.contracts.openapi import PROBLEM_REF, install, is_problem_response, operations
from shared.http.problems import PROBLEM_JSON, install_problem_handlers
from shared.kafka import SERVICES
from shared.service import create_app
from shared.settings import ServiceSettings

# Responses that are not problem documents on purpose: readiness answers its checks either way.
NOT_PROBLEMS = {("GET", "/api/{service}/readyz", "503")}


def _app(service: str) -> FastAPI:
    if service == "compliance":
        from shared.audit.serve import create_compliance_app

        return create_compliance_app("127.0.0.1:1", TestTokenIssuer().verifier())  # nothing connects yet
    spec = importlib.import_module(f"services.{service}.service").SPEC
    settings = ServiceSettings(
        service=service, database_url="postgresql://unused/x", kafka_bootstrap_servers="", port=0
    )
    return create_app(spec, settings)  # nothing connects before the lifespan starts


@pytest.fixture(scope="module", params=(*SERVICES, "compliance"))
def service_app(request: pytest.FixtureRequest) -> tuple[str, FastAPI, dict[str, Any]]:
    app = _app(request.param)
    return request.param, app, app.openapi()


def _uses(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return dependant.call is call or any(_uses(d, call) for d in dependant.dependencies)


def _routes(app: FastAPI) -> list[RouteContext]:
    """Every route as served (FastAPI keeps included routers as lazy branches of `app.routes`)."""
    return list(iter_route_contexts(app.routes))


def _app_operations(app: FastAPI) -> set[tuple[str, str]]:
    hidden = {app.openapi_url, app.docs_url, app.swagger_ui_oauth2_redirect_url}
    found = set()
    for route in _routes(app):
        assert route.path is not None, f"unexpected route {route!r}"
        if route.path in hidden:
            continue
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


def test_the_document_is_valid_openapi_3_1(service_app: tuple[str, FastAPI, dict[str, Any]]) -> None:
    _, _, document = service_app
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_the_compliance_apis_document_names_its_questions() -> None:
    """(Its `since`/`until` once left the document unbuildable: a 500 at /api/compliance/openapi.json.)"""
    document = _app("compliance").openapi()
    assert "/api/compliance/v1/customers/{customer_number}/timeline" in document["paths"]


def test_every_route_of_the_app_is_in_its_document(service_app: tuple[str, FastAPI, dict[str, Any]]) -> None:
    service, app, document = service_app
    documented = {(method, path) for method, path, _ in operations(document)}
    assert _app_operations(app) - documented == set()
    assert documented - _app_operations(app) == set()
    assert f"/api/{service}/metrics" in document["paths"]


def test_the_check_of_routes_fails_for_an_undocumented_route() -> None:
    app = _app("contacts")
    hidden = APIRouter()

    @hidden.get("/api/contacts/v1/secret-door", include_in_schema=False)
    async def secret_door() -> dict[str, str]:
        return {}

    app.include_router(hidden)
    app.openapi_schema = None
    documented = {(m, p) for m, p, _ in operations(app.openapi())}
    assert _app_operations(app) - documented == {("GET", "/api/contacts/v1/secret-door")}


def test_protected_routes_require_the_bearer_token(service_app: tuple[str, FastAPI, dict[str, Any]]) -> None:
    _, app, document = service_app
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    protected = 0
    for route in _routes(app):
        api_route = route.original_route
        if not isinstance(api_route, APIRoute) or not api_route.include_in_schema or route.path is None:
            continue
        for method in route.methods or ():
            op = document["paths"][route.path][method.lower()]
            if _uses(api_route.dependant, current_principal):
                protected += 1
                assert op.get("security") == [{"bearerAuth": []}], (method, route.path)
                assert is_problem_response(op["responses"]["401"])
                assert "WWW-Authenticate" in op["responses"]["401"]["headers"]
            else:
                assert "security" not in op, (method, route.path)
    assert protected > 0


def test_every_operation_declares_the_problems_it_can_answer(
    service_app: tuple[str, FastAPI, dict[str, Any]],
) -> None:
    service, _, document = service_app
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path, op in operations(document):
        responses = op["responses"]
        expected = {"500"}
        if op.get("security"):
            expected.add("401")
        if "requestBody" in op:
            expected |= {"400", "413", "422"}
        if any("$ref" not in p for p in op.get("parameters", [])):
            expected.add("422")
        if op.get("security") and "{customer_number}" in path:
            expected |= {"403", "404"}  # another tenant's number: 404; a role that may not: 403
        assert expected <= set(responses), (method, path, sorted(expected - set(responses)))
        for status, response in responses.items():
            if status[0] not in "45" or (method, path.replace(service, "{service}"), status) in NOT_PROBLEMS:
                continue
            assert is_problem_response(response), (method, path, status, response.get("content"))
            assert response["description"]


def test_every_path_parameter_says_what_it_names(service_app: tuple[str, FastAPI, dict[str, Any]]) -> None:
    """A client team reads from the document what goes into a path (which id, which name)."""
    _, _, document = service_app
    shared = document["components"].get("parameters", {})
    for method, path, op in operations(document):
        for parameter in op.get("parameters", []):
            parameter = shared[parameter["$ref"].rsplit("/", 1)[-1]] if "$ref" in parameter else parameter
            if parameter["in"] == "path":
                assert parameter.get("description"), (method, path, parameter["name"])


def test_problem_schema_is_rfc_9457(service_app: tuple[str, FastAPI, dict[str, Any]]) -> None:
    _, _, document = service_app
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance"} <= set(problem["properties"])
    assert PROBLEM_REF == "#/components/schemas/Problem"


async def test_the_bearer_dependency_still_answers_401_problems() -> None:
    issuer = TestTokenIssuer()
    app = FastAPI()
    install_problem_handlers(app)
    app.state.runtime = SimpleNamespace(verifier=issuer.verifier())

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        assert isinstance(principal, Principal)
        return {"subject": principal.subject}

    install(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        good = await client.get("/me", headers=issuer.customer("100001"))
        assert good.status_code == 200
        assert good.json() == {"subject": "100001"}
        for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}, {"Authorization": "Bearer x"}):
            r = await client.get("/me", headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["content-type"] == PROBLEM_JSON
            assert r.headers["www-authenticate"].startswith("Bearer")
    assert app.openapi()["paths"]["/me"]["get"]["security"] == [{"bearerAuth": []}]
