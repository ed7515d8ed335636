"""The check's fast path answers exactly like the FastAPI route, and hands everything else to it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.contacts.api import fast_check
from services.contacts.api.checking import run_check
from services.contacts.service import SPEC
from shared import metrics
from tests.integration.contacts.conftest import ContactsEnv, new_customer
from tests.support.services import running_service

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def plain(env: ContactsEnv, kafka: str) -> AsyncIterator[httpx.AsyncClient]:
    """The same service on the same database and clock, without the fast path."""
    spec = dataclasses.replace(SPEC, http_middleware=())
    verifier = env.issuer.verifier()
    async with running_service(spec, env.database_url, kafka, clock=env.clock, verifier=verifier) as (_app, client):
        yield client


def _check_url(env: ContactsEnv, n: str) -> str:
    return env.url(n, "/authorization-checks")


async def _both(
    env: ContactsEnv, plain: httpx.AsyncClient, n: str, **request: Any
) -> tuple[httpx.Response, httpx.Response]:
    await env.caught_up()
    fast = await env.client.post(_check_url(env, n), **request)
    other = await plain.post(_check_url(env, n), **request)
    return fast, other


async def test_answers_equal_the_route_for_every_kind_of_requester(
    env: ContactsEnv, plain: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered_fast: list[str] = []

    async def counted(runtime: Any, customer_number: str, body: Any) -> Any:
        answered_fast.append(customer_number)
        return await run_check(runtime, customer_number, body)

    monkeypatch.setattr(fast_check, "run_check", counted)
    n = new_customer()
    ada = await env.add_contact(n, "ada@example.org", phone="030 1234567")
    bob = await env.add_contact(n, "bob@example.org")
    start = env.tick()
    await env.grant(n, ada, ["credentials:request"], valid_until=(start + timedelta(hours=1)).isoformat())
    dns = await env.grant(n, bob, ["dns:change", "contracts:view"])
    env.tick(90)
    r = await env.client.post(
        env.url(n, f"/authorizations/{dns}/revocation"), json={"reason": "left"}, headers=env.owner(n)
    )
    assert r.status_code == 200, r.text
    env.tick()
    cases: list[dict[str, Any]] = [
        {"requester": {"phone": "+49 (30) 123-4567"}, "action": "credentials:request"},  # expired
        {
            "requester": {"contact_id": ada},
            "action": "credentials:request",
            "at": (start + timedelta(minutes=5)).isoformat(),
        },
        {"requester": {"email": " BOB@example.org "}, "action": "dns:change"},  # revoked
        {
            "requester": {"email": "bob@example.org"},
            "action": "dns:change",
            "at": (start + timedelta(minutes=5)).isoformat(),
        },
        {"requester": {"email": "nobody@example.org"}, "action": "orders:place"},
        {"requester": {"contact_id": bob}, "action": "mailboxes:manage"},
    ]
    outcomes = set()
    for body in cases:
        fast, other = await _both(env, plain, n, json=body, headers=env.owner(n))
        assert fast.status_code == other.status_code == 200, (body, fast.text, other.text)
        assert fast.json() == other.json()
        assert fast.headers["content-type"] == "application/json"
        assert fast.headers["content-length"] == other.headers["content-length"]
        assert fast.headers["x-request-id"]  # the kernel's middlewares still run around it
        outcomes.add(fast.json()["outcome"])
    assert outcomes == {"allowed", "denied", "best_knowledge"}
    assert answered_fast == [n] * len(cases)  # all of them by the fast path


async def test_what_the_fast_path_does_not_take_comes_out_as_the_route_says(
    env: ContactsEnv, plain: httpx.AsyncClient
) -> None:
    n = new_customer()
    other_customer = new_customer()
    ada = await env.add_contact(n, "ada@example.org")
    await env.grant(n, ada, ["contracts:view"])
    env.tick()
    good = {"requester": {"contact_id": ada}, "action": "contracts:view"}
    owner = env.owner(n)
    cases: list[tuple[str, dict[str, Any], int]] = [
        (n, {"json": {"requester": {"phone": "12"}, "action": "contracts:view"}, "headers": owner}, 422),
        (
            n,
            {"json": {"requester": {"phone": "not a number at all"}, "action": "contracts:view"}, "headers": owner},
            422,
        ),
        (n, {"json": {**good, "action": "fly:plane"}, "headers": owner}, 422),
        (n, {"json": {**good, "extra": 1}, "headers": owner}, 422),
        (n, {"json": {**good, "at": (env.clock.now() + timedelta(days=2)).isoformat()}, "headers": owner}, 422),
        (n, {"content": b"{not json", "headers": {**owner, "content-type": "application/json"}}, 400),
        (n, {"json": good}, 401),
        (n, {"json": good, "headers": {"Authorization": "Bearer forged.token.here"}}, 401),
        (other_customer, {"json": good, "headers": owner}, 404),
        (n, {"json": good, "headers": env.issuer.customer(other_customer)}, 404),
    ]
    for customer, request, status in cases:
        fast, other = await _both(env, plain, customer, **request)
        assert fast.status_code == other.status_code == status, (request, fast.text, other.text)
        assert fast.headers["content-type"] == other.headers["content-type"]
        if fast.headers["content-type"] == "application/problem+json":
            strip = {"instance", "request_id", "correlation_id"}
            assert {k: v for k, v in fast.json().items() if k not in strip} == {
                k: v for k, v in other.json().items() if k not in strip
            }
    # Support's checks are recorded by the route: they get a check id, the customer's do not.
    support = await env.client.post(_check_url(env, n), json=good, headers=env.support())
    assert support.status_code == 200
    assert support.json()["check_id"]
    mine = await env.client.post(_check_url(env, n), json=good, headers=owner)
    assert mine.status_code == 200
    assert mine.json()["check_id"] is None


async def test_fast_answers_are_counted_under_the_route_template(env: ContactsEnv) -> None:
    n = new_customer()
    ada = await env.add_contact(n, "ada@example.org")
    await env.caught_up()
    route = "/api/contacts/v1/customers/{customer_number}/authorization-checks"
    counter = metrics.HTTP_REQUESTS.labels("contacts", "POST", route, "200")
    before = counter._value.get()
    r = await env.client.post(
        _check_url(env, n), json={"requester": {"contact_id": ada}, "action": "contracts:view"}, headers=env.owner(n)
    )
    assert r.status_code == 200
    assert counter._value.get() == before + 1


async def test_an_error_inside_the_fast_path_is_answered_as_a_problem(
    env: ContactsEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path runs outside FastAPI's error middleware; the kernel answers for it."""

    async def broken(runtime: Any, customer_number: str, body: Any) -> Any:
        raise RuntimeError("a bug in the check")

    monkeypatch.setattr(fast_check, "run_check", broken)
    n = new_customer()
    ada = await env.add_contact(n, "ada@example.org")
    route = "/api/contacts/v1/customers/{customer_number}/authorization-checks"
    counter = metrics.HTTP_REQUESTS.labels("contacts", "POST", route, "500")
    before = counter._value.get()
    # As a server does: the exception is answered first, then raised on for the server to log.
    transport = httpx.ASGITransport(app=env.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as client:
        r = await client.post(
            _check_url(env, n),
            json={"requester": {"contact_id": ada}, "action": "contracts:view"},
            headers=env.owner(n),
        )
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "Something went wrong on our side."
    assert "a bug" not in r.text  # nothing of the error's text reaches the caller
    assert r.headers["x-request-id"]
    assert counter._value.get() == before + 1
