"""End to end, as the operator on call sees it: PostgreSQL or Kafka goes away under the running
system and comes back. While the database is away every service answers 503 problem+json with
Retry-After (never a 500) and is not ready; while Kafka is away the services stay ready (degraded),
writes go on, and a session ended meanwhile is still refused everywhere (they ask identity).
Afterwards nothing needs a restart: the read models, the relays and the other services' copies
catch up by themselves, with nothing skipped."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest

from shared.infra.kafka import EmbeddedKafka
from shared.infra.postgres import EmbeddedPostgres
from tests.support.running_system import SERVICES, RunningSystem, running_system
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

CUSTOMER = "100001"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    with running_system(tmp_path_factory.mktemp("outage-state")) as running:
        yield running


async def _session(client: httpx.AsyncClient, system: RunningSystem, who: str) -> dict[str, Any]:
    path, body = system.login(who)
    r = await client.post(path, json=body)
    assert r.status_code == 201, r.text
    tokens: dict[str, Any] = r.json()
    return tokens


async def _bearer(client: httpx.AsyncClient, system: RunningSystem, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {(await _session(client, system, who))['access_token']}"}


async def _add_contact(client: httpx.AsyncClient, owner: dict[str, str], name: str) -> str:
    r = await client.post(
        f"/api/contacts/v1/customers/{CUSTOMER}/contacts",
        json={"name": name, "email": f"{name.lower()}@example.org"},
        headers=owner,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["contact_id"])


async def _contacts_known(client: httpx.AsyncClient, owner: dict[str, str], service: str) -> set[str]:
    r = await client.get(f"/api/{service}/v1/customers/{CUSTOMER}/contacts", headers=owner)
    assert r.status_code == 200, r.text
    return {c["contact_id"] for c in r.json()["contacts"]}


async def _knows(client: httpx.AsyncClient, owner: dict[str, str], service: str, wanted: set[str]) -> bool:
    return wanted <= await _contacts_known(client, owner, service)


async def _all_ready(client: httpx.AsyncClient, degraded: tuple[str, ...] = ()) -> bool:
    """Every service ready, degraded by exactly `degraded`."""
    answers = [await client.get(f"/api/{service}/readyz") for service in SERVICES]
    return all(r.status_code == 200 and r.json()["degraded"] == list(degraded) for r in answers)


async def test_a_database_outage_is_a_503_and_everything_catches_up_afterwards(system: RunningSystem) -> None:
    async with httpx.AsyncClient(base_url=system.gateway, timeout=30) as client:
        owner = await _bearer(client, system, "customer")
        support = await _bearer(client, system, "support")
        before = await _add_contact(client, owner, "Before")
        check = {"requester": {"email": "before@example.org"}, "action": "contracts:view"}
        wrong_login = {"customer_number": CUSTOMER, "password": "whatever-it-is"}
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("GET", f"/api/contacts/v1/customers/{CUSTOMER}/contacts", {"headers": owner}),
            ("POST", f"/api/contacts/v1/customers/{CUSTOMER}/contacts",
             {"headers": owner, "json": {"name": "During", "email": "during@example.org"}}),
            ("POST", f"/api/contacts/v1/customers/{CUSTOMER}/authorization-checks",
             {"headers": support, "json": check}),
            ("GET", f"/api/domains/v1/customers/{CUSTOMER}/contacts", {"headers": owner}),
            ("GET", f"/api/billing/v1/customers/{CUSTOMER}/billing-contact", {"headers": owner}),
            ("GET", f"/api/identity/v1/customers/{CUSTOMER}", {"headers": owner}),
            ("POST", "/api/identity/v1/sessions", {"json": wrong_login}),
        ]  # fmt: skip

        postgres = EmbeddedPostgres(system.state, system.port("postgres"))
        await asyncio.to_thread(postgres.stop)
        try:
            for service in SERVICES:
                ready = await client.get(f"/api/{service}/readyz")
                assert ready.status_code == 503, (service, ready.text)
                assert ready.json()["checks"]["database"] != "ok", ready.text
            for method, path, options in requests:
                r = await client.request(method, path, **options)
                assert r.status_code == 503, (method, path, r.status_code, r.text)
                assert r.headers["content-type"] == "application/problem+json", (path, r.headers)
                assert r.headers["retry-after"] == "5", (path, r.headers)
                assert r.json()["detail"] == "A dependency is unavailable; try again shortly.", r.text
        finally:
            await asyncio.to_thread(postgres.start)

        # Nothing restarted: the services find the database again by themselves.
        await eventually(lambda: _all_ready(client), "every service ready again")
        after = await _add_contact(client, owner, "After")
        # The contacts service's own read model and the relay to domains' copy both moved on;
        # the write refused during the outage left nothing behind.
        both = {before, after}
        await eventually(lambda: _knows(client, owner, "contacts", both), "contacts' read model")
        await eventually(lambda: _knows(client, owner, "domains", both), "domains' copy")
        listed = await client.get(f"/api/contacts/v1/customers/{CUSTOMER}/contacts", headers=owner)
        assert "during@example.org" not in listed.text


async def _refused(client: httpx.AsyncClient, method: str, path: str, options: dict[str, Any]) -> bool:
    r = await client.request(method, path, **options)
    assert r.status_code in (200, 401), (path, r.status_code, r.text)
    return r.status_code == 401


async def test_while_kafka_is_away_writes_go_on_ended_sessions_are_refused_and_all_catches_up_after(
    system: RunningSystem,
) -> None:
    async with httpx.AsyncClient(base_url=system.gateway, timeout=30) as client:
        owner = await _bearer(client, system, "customer")
        leaving = await _session(client, system, "customer")  # a second session of the owner's, ended below
        auditor = await _bearer(client, system, "compliance")
        auditor_leaving = await _session(client, system, "compliance")
        kafka = EmbeddedKafka(system.state, system.port("kafka"), system.port("kafka_controller"))
        await asyncio.to_thread(kafka.stop)
        try:
            # Still ready (the gateway keeps routing to them in Kubernetes), saying what is missing.
            await eventually(lambda: _all_ready(client, ("kafka",)), "every service ready, degraded")
            # The event store is the outbox: the write commits now and is published later.
            away = [await _add_contact(client, owner, f"Away{i}") for i in range(3)]
            await eventually(lambda: _knows(client, owner, "contacts", set(away)), "contacts' own read model")
            assert not set(away) & await _contacts_known(client, owner, "domains")

            # A session ended now cannot reach the other services through Kafka: they ask identity.
            r = await client.post("/api/identity/v1/sessions/logout", json={"refresh_token": leaving["refresh_token"]})
            assert r.status_code == 204, r.text
            check = {"requester": {"email": "away0@example.org"}, "action": "contracts:view"}
            reads: list[tuple[str, str, dict[str, Any]]] = [
                ("GET", f"/api/contacts/v1/customers/{CUSTOMER}/contacts", {}),
                ("POST", f"/api/contacts/v1/customers/{CUSTOMER}/authorization-checks", {"json": check}),
                ("GET", f"/api/domains/v1/customers/{CUSTOMER}/contacts", {}),
                ("GET", f"/api/billing/v1/customers/{CUSTOMER}/billing-contact", {}),
                ("GET", f"/api/identity/v1/customers/{CUSTOMER}", {}),
            ]
            ended = {"Authorization": f"Bearer {leaving['access_token']}"}
            for method, path, options in reads:
                refused = partial(_refused, client, method, path, {**options, "headers": ended})
                await eventually(refused, f"{path} refusing the ended session's token")
                r = await client.request(method, path, **options, headers=owner)
                assert r.status_code == 200, (path, r.status_code, r.text)  # the live session is served
            # The compliance API alike: what its replay is based on is not for an ended session.
            r = await client.post(
                "/api/identity/v1/sessions/logout", json={"refresh_token": auditor_leaving["refresh_token"]}
            )
            assert r.status_code == 204, r.text
            ended = {"Authorization": f"Bearer {auditor_leaving['access_token']}"}
            await eventually(
                partial(_refused, client, "GET", "/api/compliance/v1/replay", {"headers": ended}), "compliance refusing"
            )
            assert (await client.get("/api/compliance/v1/replay", headers=auditor)).status_code == 200
        finally:
            await asyncio.to_thread(kafka.start)
        await eventually(lambda: _knows(client, owner, "domains", set(away)), "domains' copy", timeout=60)
        await eventually(lambda: _all_ready(client), "every service ready again, none degraded")
