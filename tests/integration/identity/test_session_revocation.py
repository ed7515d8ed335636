"""A session identity ends stops working at the other services within seconds, not when its access
token expires: identity's `SessionRevoked` on Kafka, followed by every API process
(`shared.auth.revocations`). Real identity, contacts, PostgreSQL, Kafka and HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.contacts.service import SPEC as CONTACTS
from services.identity.adapters.hashing import SecretHasher
from shared import metrics
from shared.auth import JwksTokenVerifier, Role
from shared.http.hot import HotRouteProtocol
from shared.infra.processes import free_port
from shared.infra.smtp_sink import SmtpSink
from shared.service import create_app
from shared.settings import ServiceSettings
from tests.conftest import create_database
from tests.integration.identity.harness import bearer
from tests.integration.identity.test_token_verification import identity_over_http
from tests.support.services import running_service
from tests.support.uvicorn_server import uvicorn_serving

pytestmark = pytest.mark.integration

CHECK = {"requester": {"email": "someone@example.org"}, "action": "contracts:view"}


async def _status_within(check: Any, wanted: int, seconds: float) -> float:
    """Seconds until `check()` answered `wanted`; fails after `seconds`."""
    started = time.monotonic()
    while True:
        status = (await check()).status_code
        if status == wanted:
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, f"still {status} after {seconds} s"
        await asyncio.sleep(0.05)


async def test_a_logout_ends_its_token_at_another_service_and_only_that_session(
    pg_server: str, kafka: str, service_topics: object, smtp_sink: SmtpSink, hasher: SecretHasher
) -> None:
    async with identity_over_http(pg_server, kafka, smtp_sink, hasher) as (identity, identity_url):
        number, _, password = await identity.customer_with_password()
        ending, staying = [(await identity.login(number, password)).json() for _ in range(2)]
        jwks_url = f"{identity_url}/api/identity/.well-known/jwks.json"
        # (identity_jwks_url: sessions are asked about at this identity while the follower starts,
        # not at the default address, where a `make run` of the developer may answer)
        settings = ServiceSettings(
            service="contacts",
            database_url=await create_database(pg_server),
            kafka_bootstrap_servers=kafka,
            port=0,
            identity_jwks_url=jwks_url,
        )
        app = create_app(CONTACTS, settings, verifier=JwksTokenVerifier(jwks_url))
        async with (
            uvicorn_serving(app, HotRouteProtocol, log_level="warning", lifespan="on") as server,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.config.port}", timeout=10) as contacts,
        ):
            path = f"/api/contacts/v1/customers/{number}/authorization-checks"

            async def check(tokens: dict[str, Any]) -> httpx.Response:
                return await contacts.post(path, json=CHECK, headers=bearer(tokens))

            await _status_within(lambda: check(ending), 200, 30)  # contacts has learnt of the customer
            for tokens in (ending, staying, ending, staying):  # each verified once, then answered hot
                assert (await check(tokens)).status_code == 200
            # The follower has read the topic: from here on the refusal below comes from Kafka, not
            # from asking identity (which the guard does while the follower is not current).
            started = time.monotonic()
            while (await contacts.get("/api/contacts/readyz")).json()["checks"]["session_revocations"] != "ok":
                assert time.monotonic() - started < 15, "the revocation follower never became current"
                await asyncio.sleep(0.05)
            refused_before = metrics.TOKENS_OF_ENDED_SESSIONS._value.get()

            logout = await identity.client.post(
                "/api/identity/v1/sessions/logout", json={"refresh_token": ending["refresh_token"]}
            )
            assert logout.status_code == 204
            # The token itself is still unexpired and correctly signed; only the revocation refuses it.
            elapsed = await _status_within(lambda: check(ending), 401, 10)
            refused = await check(ending)
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"
            assert (await check(staying)).status_code == 200  # the customer's other session goes on
            assert metrics.TOKENS_OF_ENDED_SESSIONS._value.get() > refused_before
            assert elapsed < 10

        # A process started after the logout knows of it from the topic before it is ready.
        later = await create_database(pg_server)
        verifier = JwksTokenVerifier(jwks_url)
        async with running_service(CONTACTS, later, kafka, verifier=verifier, identity_jwks_url=jwks_url) as (_, fresh):
            await _status_within(lambda: fresh.get("/api/contacts/readyz"), 200, 15)
            contacts_path = f"/api/contacts/v1/customers/{number}/contacts"
            assert (await fresh.get(contacts_path, headers=bearer(ending))).status_code == 401
            assert (await fresh.get(contacts_path, headers=bearer(staying))).status_code != 401


async def test_a_deactivated_staff_users_token_is_refused_by_the_other_services_at_once(
    pg_server: str, kafka: str, service_topics: object, smtp_sink: SmtpSink, hasher: SecretHasher
) -> None:
    """Someone who left: the admin deactivates them, and their support token stops working at
    contacts although it has minutes to live."""
    async with identity_over_http(pg_server, kafka, smtp_sink, hasher) as (identity, identity_url):
        number, _, _ = await identity.customer_with_password()
        admin = await identity.staff_headers(Role.ADMIN)
        agent, password = await identity.create_staff(Role.SUPPORT)
        login = await identity.client.post(
            "/api/identity/v1/staff-sessions", json={"username": agent, "password": password}
        )
        assert login.status_code == 201, login.text
        support = bearer(login.json())
        jwks_url = f"{identity_url}/api/identity/.well-known/jwks.json"
        database = await create_database(pg_server)
        verifier = JwksTokenVerifier(jwks_url)
        async with running_service(CONTACTS, database, kafka, verifier=verifier, identity_jwks_url=jwks_url) as (
            _,
            contacts,
        ):
            await _status_within(lambda: contacts.get("/api/contacts/readyz"), 200, 15)
            path = f"/api/contacts/v1/customers/{number}/authorization-history"
            await _status_within(lambda: contacts.get(path, headers=support), 200, 30)

            gone = await identity.client.post(
                f"/api/identity/v1/staff-users/{agent}/deactivation", json={"reason": "left"}, headers=admin
            )
            assert gone.status_code == 200, gone.text
            assert await _status_within(lambda: contacts.get(path, headers=support), 401, 10) < 10


@asynccontextmanager
async def contacts_without_kafka(
    pg_server: str, keys_from: str, sessions_from: str
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """Contacts started with no Kafka broker where it is told to look, over HTTP: the signing keys
    from identity at `keys_from`, sessions asked about at `sessions_from` (its /me beside the JWKS)."""
    jwks = "/api/identity/.well-known/jwks.json"
    settings = ServiceSettings(
        service="contacts",
        database_url=await create_database(pg_server),
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",  # no broker there
        port=0,
        identity_jwks_url=f"{sessions_from}{jwks}",
    )
    app = create_app(CONTACTS, settings, verifier=JwksTokenVerifier(f"{keys_from}{jwks}"))
    async with (
        uvicorn_serving(app, HotRouteProtocol, log_level="warning", lifespan="on") as server,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.config.port}", timeout=10) as contacts,
    ):
        yield app, contacts


async def test_a_service_started_while_kafka_is_away_serves_and_still_refuses_ended_sessions(
    pg_server: str, kafka: str, service_topics: object, smtp_sink: SmtpSink, hasher: SecretHasher
) -> None:
    """A pod (re)started during a Kafka outage: ready, degraded; it has read no revocation, so it
    asks identity about every session (`shared.auth.session_confirmation`)."""
    async with identity_over_http(pg_server, kafka, smtp_sink, hasher) as (identity, identity_url):
        number, _, password = await identity.customer_with_password()
        ended, live = [(await identity.login(number, password)).json() for _ in range(2)]
        logout = await identity.client.post(
            "/api/identity/v1/sessions/logout", json={"refresh_token": ended["refresh_token"]}
        )
        assert logout.status_code == 204
        async with contacts_without_kafka(pg_server, identity_url, identity_url) as (_, contacts):
            ready = await contacts.get("/api/contacts/readyz")
            assert ready.status_code == 200, ready.text
            assert {"kafka", "session_revocations"} <= set(ready.json()["degraded"]), ready.text
            contacts_path = f"/api/contacts/v1/customers/{number}/contacts"
            refused = await contacts.get(contacts_path, headers=bearer(ended))
            assert refused.status_code == 401, refused.text
            # The live session is served, and a write commits although Kafka cannot have it yet.
            added = await contacts.post(
                contacts_path, json={"name": "Ada Lovelace", "email": "ada@example.org"}, headers=bearer(live)
            )
            assert added.status_code == 201, added.text
            listed = await contacts.get(contacts_path, headers=bearer(live))
            assert listed.status_code == 200, listed.text
            assert (await contacts.get(contacts_path, headers=bearer(ended))).status_code == 401


async def test_while_neither_kafka_nor_identity_can_say_a_token_is_refused_for_now_and_nothing_is_written(
    pg_server: str, kafka: str, service_topics: object, smtp_sink: SmtpSink, hasher: SecretHasher
) -> None:
    async with identity_over_http(pg_server, kafka, smtp_sink, hasher) as (identity, identity_url):
        number, _, password = await identity.customer_with_password()
        live = (await identity.login(number, password)).json()
        # Identity's /me asked where nothing answers; the signing keys still come from identity.
        nowhere = f"http://127.0.0.1:{free_port()}"
        async with contacts_without_kafka(pg_server, identity_url, nowhere) as (app, contacts):
            base = f"/api/contacts/v1/customers/{number}"
            answers = [
                await contacts.get(f"{base}/contacts", headers=bearer(live)),
                await contacts.post(
                    f"{base}/contacts", json={"name": "Ada", "email": "a@example.org"}, headers=bearer(live)
                ),
                await contacts.post(
                    f"{base}/authorization-checks", json=CHECK, headers=bearer(live)
                ),  # the hot route's
            ]
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.headers["retry-after"] == "5"
                assert "cannot be confirmed" in answer.json()["detail"]
            assert await app.state.runtime.pool.fetchval("SELECT count(*) FROM events") == 0
