"""The check's hot route answers exactly like the FastAPI route, and hands everything else to it.

The hot route runs in the HTTP protocol, so these tests serve the app with uvicorn on a socket
(`served`) and compare with the same app reached through ASGI (`env.client`: always the route).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.contacts.api import hot_check
from services.contacts.api.checking import check_in_memory
from shared import metrics
from shared.http.hot import HotRouteProtocol
from tests.integration.contacts.conftest import ContactsEnv, new_customer
from tests.support.uvicorn_server import uvicorn_serving

pytestmark = pytest.mark.integration

ROUTE = "/api/contacts/v1/customers/{customer_number}/authorization-checks"


@pytest.fixture
async def served(env: ContactsEnv) -> AsyncIterator[httpx.AsyncClient]:
    """The env's running app behind uvicorn and the kernel's protocol, as a real API process."""
    async with (
        uvicorn_serving(env.app, HotRouteProtocol, lifespan="off") as server,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.config.port}", timeout=10) as client,
    ):
        yield client


@pytest.fixture
def answered_hot(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The customer numbers the hot route answered for."""
    seen: list[str] = []

    def counted(memory: Any, now: Any, customer_number: str, body: Any) -> Any:
        check = check_in_memory(memory, now, customer_number, body)  # (raises when it declines)
        seen.append(customer_number)
        return check

    monkeypatch.setattr(hot_check, "check_in_memory", counted)
    return seen


def _check_url(env: ContactsEnv, n: str) -> str:
    return env.url(n, "/authorization-checks")


async def _both(
    env: ContactsEnv, served: httpx.AsyncClient, n: str, **request: Any
) -> tuple[httpx.Response, httpx.Response]:
    await env.caught_up()
    # The route first: a token new to the process is the route's (it verifies it for the next).
    route = await env.client.post(_check_url(env, n), **request)
    hot = await served.post(_check_url(env, n), **request)
    return hot, route


async def test_answers_equal_the_route_for_every_kind_of_requester(
    env: ContactsEnv, served: httpx.AsyncClient, answered_hot: list[str]
) -> None:
    n = await env.customer()
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
        {"requester": {"phone": "030 / 123 45 67"}, "action": "credentials:request"},  # as heard: parsed
        {"requester": {"phone": "+49 30 9999999"}, "action": "credentials:request"},  # nobody's number
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
    owner = env.owner(n)
    for body in cases:
        hot, route = await _both(env, served, n, json=body, headers=owner)
        assert hot.status_code == route.status_code == 200, (body, hot.text, route.text)
        assert hot.json() == route.json()
        assert hot.headers["content-type"] == "application/json"
        assert hot.headers["content-length"] == route.headers["content-length"]
        assert hot.headers["x-request-id"]  # what the kernel gives every answer
        outcomes.add(hot.json()["outcome"])
    assert outcomes == {"allowed", "denied", "best_knowledge"}
    assert answered_hot == [n] * len(cases)


async def test_what_the_hot_route_declines_comes_out_as_the_route_says(
    env: ContactsEnv, served: httpx.AsyncClient, answered_hot: list[str]
) -> None:
    n = await env.customer()
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
        hot, route = await _both(env, served, customer, **request)
        assert hot.status_code == route.status_code == status, (request, hot.text, route.text)
        assert hot.headers["content-type"] == route.headers["content-type"]
        if hot.headers["content-type"] == "application/problem+json":
            strip = {"instance", "request_id", "correlation_id"}
            assert {k: v for k, v in hot.json().items() if k not in strip} == {
                k: v for k, v in route.json().items() if k not in strip
            }
    # Support's checks are recorded by the route: they get a check id, the customer's do not.
    support = await served.post(_check_url(env, n), json=good, headers=env.support())
    assert support.status_code == 200
    assert support.json()["check_id"]
    assert answered_hot == []  # none of the above was the hot route's to answer
    mine = await served.post(_check_url(env, n), json=good, headers=owner)
    assert mine.status_code == 200
    assert mine.json()["check_id"] is None
    assert answered_hot == [n]


async def _one_contact(env: ContactsEnv) -> tuple[str, dict[str, Any]]:
    """A new customer with one contact, and a check about that contact."""
    n = await env.customer()
    ada = await env.add_contact(n, "ada@example.org")
    await env.caught_up()
    return n, {"requester": {"contact_id": ada}, "action": "contracts:view"}


async def _owner_known_here(env: ContactsEnv, n: str, body: dict[str, Any]) -> dict[str, str]:
    """The owner's token, verified once by the route: from now on the hot route may answer it."""
    owner = env.owner(n)
    assert (await env.client.post(_check_url(env, n), json=body, headers=owner)).status_code == 200
    return owner


async def test_a_token_new_to_the_process_goes_to_the_route_which_verifies_it_for_the_next(
    env: ContactsEnv, served: httpx.AsyncClient, answered_hot: list[str]
) -> None:
    n, body = await _one_contact(env)
    fresh = env.issuer.customer(n)  # issued now: never seen by this process
    first = await served.post(_check_url(env, n), json=body, headers=fresh)
    second = await served.post(_check_url(env, n), json=body, headers=fresh)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert answered_hot == [n]  # the second


async def test_hot_answers_are_counted_under_the_route_template(
    env: ContactsEnv, served: httpx.AsyncClient, answered_hot: list[str]
) -> None:
    n, body = await _one_contact(env)
    owner = await _owner_known_here(env, n, body)
    counter = metrics.HTTP_REQUESTS.labels("contacts", "POST", ROUTE, "200")
    before = counter._value.get()
    r = await served.post(_check_url(env, n), json=body, headers=owner)
    assert r.status_code == 200
    assert answered_hot == [n]
    assert counter._value.get() == before + 1


async def test_an_error_inside_the_hot_route_is_answered_as_a_problem(
    env: ContactsEnv, served: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(memory: Any, now: Any, customer_number: str, body: Any) -> Any:
        raise RuntimeError("a bug in the check")

    n, body = await _one_contact(env)
    owner = await _owner_known_here(env, n, body)
    monkeypatch.setattr(hot_check, "check_in_memory", broken)
    counter = metrics.HTTP_REQUESTS.labels("contacts", "POST", ROUTE, "500")
    before = counter._value.get()
    r = await served.post(_check_url(env, n), json=body, headers=owner)
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "Something went wrong on our side."
    assert "a bug" not in r.text  # nothing of the error's text reaches the caller
    assert r.headers["x-request-id"]
    assert counter._value.get() == before + 1
