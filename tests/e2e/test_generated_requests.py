"""End to end, as other teams' clients see the APIs: requests generated from each service's own
OpenAPI document (schemathesis on hypothesis), sent through the gateway of the running system
with real tokens of the seeded users. Some requests follow the document, others break it on
purpose (wrong types, missing fields, strings out of bounds). Whatever a request holds:

* the answer is never a 5xx;
* its status and its content type are among those the document lists for that operation;
* its body and headers match their documented schemas.

Generation is derandomized, so a failure shows the same request on the next run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.running_system import RunningSystem, running_system

pytestmark = pytest.mark.integration

CUSTOMER = "100001"  # the seeded customer: most paths name it, so requests get past the 404
EXAMPLES = 12  # per operation, role and mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
ROLES = {
    "identity": ("customer", "support", "admin"),
    "contacts": ("customer", "support"),
    "billing": ("customer", "support"),
    "domains": ("customer", "support"),
    "compliance": ("compliance",),
}
# Ending the session would turn every later request of its role into the same 401; the
# operators' scraper reads metrics on the services' own ports (the gateway answers 404).
LEFT_OUT = ("/sessions/logout", "/metrics")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    with running_system(tmp_path_factory.mktemp("generated-requests-state")) as running:
        yield running


@pytest.fixture(scope="module")
def bearers(system: RunningSystem) -> dict[str, dict[str, str]]:
    """Logged in before any generated request: those to the login routes soon meet the guessing
    throttle, which then refuses every login from this address for a while."""
    return {role: system.bearer(role) for role in {r for roles in ROLES.values() for r in roles}}


def _failures(operation: APIOperation[Any, Any, Any, Any], mode: GenerationMode, headers: dict[str, str]) -> str | None:
    pinned = {"customer_number": CUSTOMER} if "{customer_number}" in operation.path else None
    # Only the headers the document names: a broken Host header, which negative generation adds
    # now and then, is the gateway's 400 before any service sees the request.
    named = {p.name.lower() for p in operation.headers}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),  # no shrinking: it would resend hundreds of requests
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode, path_parameters=pinned))
    def send(case: Case[Any]) -> None:
        for name in [k for k in case.headers or {} if k.lower() not in named]:
            del case.headers[name]
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        send()
    except Unsatisfiable:  # nothing to break in an operation without parameters or body
        return None
    except (Exception, BaseExceptionGroup) as failure:  # the checks raise a group of what failed
        return str(failure)
    return None


@pytest.mark.parametrize("service", ROLES)
def test_no_generated_request_gets_an_undocumented_answer(
    system: RunningSystem, bearers: dict[str, dict[str, str]], service: str
) -> None:
    document = f"{system.gateway}/api/{service}/openapi.json"
    schema = schemathesis.openapi.from_url(document, config=schemathesis.Config())  # no schemathesis.toml
    schema.config.update(base_url=system.gateway)
    failures: list[str] = []
    sent = 0
    for role in ROLES[service]:
        headers = bearers[role]
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result  # the document left this operation unusable
            operation = result.ok()
            if operation.path.endswith(LEFT_OUT):
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                sent += 1
                if failure := _failures(operation, mode, headers):
                    failures.append(f"{role}, {mode.value}, {operation.label}:\n{failure}")
    assert sent > 0
    assert not failures, "\n\n".join(failures)


def test_a_client_cannot_shed_the_guessing_throttle_by_writing_x_forwarded_for(
    system: RunningSystem, bearers: dict[str, dict[str, str]]
) -> None:
    """The throttle counts failed logins per client address, which behind the gateway is the
    forwarded one: a guesser who writes a new X-Forwarded-For each time is still one address."""
    statuses = []
    for attempt in range(30):  # unknown customer numbers: only the per-address count can refuse
        spoofed = {"X-Forwarded-For": f"198.51.100.{attempt}"}
        r = httpx.post(
            f"{system.gateway}/api/identity/v1/sessions",
            json={"customer_number": f"{990000 + attempt}", "password": "a guess"},
            headers=spoofed,
            timeout=30,
        )
        statuses.append(r.status_code)
    assert set(statuses) <= {401, 429}, statuses
    assert statuses[-1] == 429, statuses
