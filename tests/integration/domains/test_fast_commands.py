"""The fast path for new vhosts and redirects answers exactly as the routes do.

`application/json` bodies take the fast path (`api/fast_commands.py`); the same request with
`application/merge-patch+json` (JSON to FastAPI too) goes to the route. Each case is sent both
ways and the answers compared; refusals are recorded once per request whichever way it went.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared import metrics
from shared.scopes import Scope
from tests.integration.domains.conftest import Env

pytestmark = pytest.mark.integration

FAST, ROUTE = "application/json", "application/merge-patch+json"


async def both(env: Env, method: str, path: str, body: Any, headers: dict[str, str]) -> list[httpx.Response]:
    return [
        await env.domains.request(method, path, content=body, headers={**headers, "Content-Type": kind})
        for kind in (FAST, ROUTE)
    ]


def same(answers: list[httpx.Response], status: int) -> dict[str, Any]:
    fast, route = answers
    assert (fast.status_code, route.status_code) == (status, status), (fast.text, route.text)
    assert fast.headers["content-type"] == route.headers["content-type"]
    assert fast.json() == route.json()
    return dict(fast.json())


def vhost(name: str) -> bytes:
    return f'{{"name": "{name}"}}'.encode()


async def test_successes_and_errors_are_the_routes(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    base = env.url(n, f"/domains/{domain}")
    owner = env.owner(n)
    counted = metrics.HTTP_REQUESTS.labels(
        "domains", "POST", "/api/domains/v1/customers/{customer_number}/domains/{domain}/vhosts", "201"
    )
    before = counted._value.get()

    fast = await env.domains.post(
        f"{base}/vhosts", content=vhost(f"a.{domain}"), headers={**owner, "Content-Type": FAST}
    )
    route = await env.domains.post(
        f"{base}/vhosts", content=vhost(f"b.{domain}"), headers={**owner, "Content-Type": ROUTE}
    )
    assert (fast.status_code, route.status_code) == (201, 201)
    assert (fast.json()["version"], route.json()["version"]) == (2, 3)
    assert {**fast.json(), "version": 0} == {**route.json(), "version": 0} == {
        "authorization": "account_owner", "grant_id": None, "reasons": [], "version": 0,
    }  # fmt: skip
    assert fast.headers["location"] == f"{base}/vhosts/a.{domain}"
    assert counted._value.get() == before + 2  # labelled by the route's template either way

    same(await both(env, "POST", f"{base}/vhosts", vhost(f"a.{domain}"), owner), 409)  # exists already
    same(await both(env, "POST", f"{base}/vhosts", vhost("elsewhere.de"), owner), 422)  # not within
    same(await both(env, "POST", f"{base}/vhosts", b'{"name": 1}', owner), 422)  # the body model
    same(await both(env, "POST", f"{base}/vhosts", b"{", owner), 400)  # not JSON
    same(await both(env, "POST", f"{base}/vhosts", vhost(f"x.{domain}"), {}), 401)
    same(await both(env, "POST", env.url(n, "/domains/nope-x.de/vhosts"), vhost("w.nope-x.de"), owner), 404)
    other = await env.customer()
    same(await both(env, "POST", f"{base}/vhosts", vhost(f"c.{domain}"), env.owner(other)), 404)  # tenant
    same(await both(env, "PUT", f"{base}/redirects/{domain}", b'{"target_url": "javascript:x"}', owner), 422)
    same(await both(env, "POST", f"{base}/vhosts", vhost(f"d.{domain}"), env.support()), 422)  # no requester
    long = env.support("email:" + "a" * 400 + "@example.org")
    same(await both(env, "POST", f"{base}/vhosts", vhost(f"d.{domain}"), long), 422)

    redirect = b'{"target_url": "https://yx.de/", "permanent": false}'
    first = await env.domains.put(
        f"{base}/redirects/www.{domain}", content=redirect, headers={**owner, "Content-Type": FAST}
    )
    assert (first.status_code, first.json()["version"]) == (200, 4), first.text
    assert same(await both(env, "PUT", f"{base}/redirects/www.{domain}", redirect, owner), 200)["version"] == 4


async def test_support_is_refused_and_recorded_once_per_request(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    await env.issue_instruction(n)  # strict: an unknown requester is refused
    base = env.url(n, f"/domains/{domain}")
    heard = env.support(f"email:stranger-{uuid.uuid4().hex[:6]}@example.org")

    refused = same(await both(env, "POST", f"{base}/vhosts", vhost(f"a.{domain}"), heard), 403)
    assert refused["action"] == Scope.MANAGE_MAILBOXES.value
    same(await both(env, "PUT", f"{base}/redirects/a.{domain}", b'{"target_url": "https://yx.de/"}', heard), 403)
    rows = await env.pool.fetch(
        "SELECT data->>'operation' AS operation FROM events WHERE customer_number = $1"
        " AND event_type = 'SupportRequestRefused' ORDER BY position",
        n,
    )
    assert [r["operation"] for r in rows] == ["create_vhost"] * 2 + ["set_redirect"] * 2
