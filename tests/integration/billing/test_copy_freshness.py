"""Support is refused while billing's copy of the authorizations lags behind contacts.events.

Real contacts and billing, PostgreSQL and Kafka; billing's copy is held back by holding its
consumer's processing lock (what a stuck worker does), so a revocation contacts recorded is on
the topic but not in billing's tables.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.authorization.freshness import RUNTIME_KEY as COPY_FRESHNESS
from shared.consumer import KafkaConsumerRunner
from tests.integration.billing.conftest import BillingEnv, billing_env, new_customer
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

ADDRESS = {"recipient": "Acme GmbH", "street": "Hauptstr. 1", "postcode": "10115", "city": "Berlin", "country": "DE"}
MAX_LAG_S = 1.0


@pytest.fixture(scope="module")
async def env(pg_server: str, kafka: str, service_topics: object) -> AsyncIterator[BillingEnv]:
    async with billing_env(pg_server, kafka, authorization_copy_max_lag_s=MAX_LAG_S) as env:
        yield env


def _copy_consumer(env: BillingEnv) -> KafkaConsumerRunner:
    consumers: list[KafkaConsumerRunner] = env.billing_app.state.workers.consumers
    [runner] = [c for c in consumers if c.projection.name == "authorization"]
    return runner


async def _granted_contact(env: BillingEnv, email: str) -> tuple[str, str, str]:
    """A new customer with a contact granted billing:manage, known to billing's copy."""
    n = await env.open_account(new_customer())
    contact, _ = await env.add_contact(n, email)
    env.tick()
    grant_id, granted = await env.grant(n, contact, ["billing:manage"])
    await env.billing_knows(n, granted)
    env.tick()
    return n, contact, grant_id


async def test_support_waits_for_a_lagging_copy_and_then_sees_the_revocation(env: BillingEnv) -> None:
    n, ada, grant_id = await _granted_contact(env, "ada@example.org")
    on_behalf = {"on_behalf_of": {"contact_id": ada}, "ticket_reference": "T-7"}
    r = await env.put(n, "billing-address", {**ADDRESS, **on_behalf}, env.support(), version=0)
    assert r.status_code == 200, r.text

    consumer = _copy_consumer(env)
    async with consumer.processing:  # billing's copy stops applying contacts.events
        env.tick()
        revoked = await env.revoke(n, grant_id, "left the project")
        # Within the limit the copy is trusted (a grant contacts just revoked may still count for
        # up to a second here); past it, the watcher of billing's API process knows it lags.
        freshness = env.billing_app.state.runtime.extras[COPY_FRESHNESS]

        async def lagging() -> bool:
            lag = freshness.lag_s()
            return lag is not None and lag > MAX_LAG_S

        await eventually(lagging, "billing's API to see its copy lag", timeout=20)
        moved = {**ADDRESS, "city": "Potsdam", **on_behalf}
        r = await env.put(n, "billing-address", moved, env.support())
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert int(r.headers["retry-after"]) >= 1
        problem = r.json()
        assert problem["status"] == 503
        assert "the billing service's copy of the authorizations is" in problem["detail"]
        assert "behind contacts" in problem["detail"]
        assert problem["copy_lag_s"] >= MAX_LAG_S
        # Nothing was changed, and the owner (who needs no copy) goes on meanwhile.
        current = await env.billing.get(env.url(n, "billing-address"), headers=env.owner(n))
        assert current.json()["address"]["city"] == "Berlin"
        r = await env.put(n, "invoice-email", {"email": "billing@acme.example"}, env.owner(n))
        assert r.status_code == 200, r.text
        # Still ready (the owner's requests work); the lag is in the metrics.
        assert (await env.billing.get("/api/billing/readyz")).status_code == 200
        metrics = (await env.billing.get("/api/billing/metrics")).text
        gauge = 'authorization_copy_behind_seconds{consumer="billing.authorization"}'
        [line] = [x for x in metrics.splitlines() if x.startswith(gauge)]
        assert float(line.rsplit(" ", 1)[1]) > MAX_LAG_S
        assert "support_requests_deferred_total" in metrics

    # Released: the copy applies the revocation, and support's request is decided on it.
    await env.billing_knows(n, revoked)

    async def decided() -> httpx.Response | None:
        answer = await env.put(n, "billing-address", {**ADDRESS, "city": "Potsdam", **on_behalf}, env.support())
        return answer if answer.status_code != 503 else None

    r = await eventually(decided, "the copy to be current again", timeout=20)
    assert r.status_code == 403, r.text
    assert [x["code"] for x in r.json()["reasons"]] == ["revoked", "no_official_instruction"]


async def test_a_current_copy_is_not_in_the_way(env: BillingEnv) -> None:
    n, bob, _ = await _granted_contact(env, "bob@example.org")
    await asyncio.sleep(2 * MAX_LAG_S)  # idle for longer than the limit: current is current
    body = {"email": "invoices@bob.example", "on_behalf_of": {"contact_id": bob}}
    r = await env.put(n, "invoice-email", body, env.support(), version=0)
    assert r.status_code == 200, r.text
