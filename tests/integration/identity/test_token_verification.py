"""Tokens issued by identity, verified in another service from identity's JWKS, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import jwt
import pytest
import uvicorn
from fastapi import FastAPI
from jwt.utils import base64url_encode

from services.contacts.service import SPEC as CONTACTS
from services.identity.adapters.hashing import SecretHasher
from services.identity.api.keys import JwkSet
from services.identity.bootstrap import build_spec
from shared.auth import InvalidToken, JwksTokenVerifier, PrincipalKind, Role, StaticKeyTokenVerifier
from shared.auth.verifier import keys_from_jwks
from shared.clock import FixedClock
from shared.infra.processes import free_port
from shared.infra.smtp_sink import SmtpSink
from shared.service import create_app
from shared.settings import ServiceSettings
from tests.conftest import create_database
from tests.integration.identity.harness import IdentityHarness, bearer, new_customer_number, now_utc
from tests.support.services import running_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@asynccontextmanager
async def identity_over_http(
    pg_server: str, kafka: str, sink: SmtpSink, hasher: SecretHasher
) -> AsyncIterator[tuple[IdentityHarness, str]]:
    """Identity served by uvicorn on a free port (the verifier in another service fetches its JWKS)."""
    port = free_port()
    clock = FixedClock(now_utc())
    settings = ServiceSettings(
        service="identity",
        database_url=await create_database(pg_server),
        kafka_bootstrap_servers=kafka,
        port=port,
        smtp_port=sink.port,
    )
    app: FastAPI = create_app(build_spec(hasher=hasher), settings, clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        assert not serving.done(), "uvicorn stopped during start-up"
        assert time.monotonic() < deadline, "identity did not start"
        await asyncio.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base_url) as client:
            yield IdentityHarness(app, client, clock, sink), base_url
    finally:
        server.should_exit = True
        await serving


async def test_another_service_accepts_identity_tokens_via_jwks(
    pg_server: str, kafka: str, service_topics: object, smtp_sink: SmtpSink, hasher: SecretHasher
) -> None:
    async with identity_over_http(pg_server, kafka, smtp_sink, hasher) as (identity, base_url):
        number, _, password = await identity.customer_with_password()
        login = await identity.login(number, password)
        assert login.status_code == 201, login.text
        customer = login.json()
        support = await identity.staff_headers(Role.SUPPORT)

        published = await identity.client.get("/api/identity/.well-known/jwks.json")
        assert published.headers["content-type"] == "application/jwk-set+json"
        jwks = published.json()
        JwkSet.model_validate(jwks)  # as documented
        [key] = jwks["keys"]
        assert (key["kty"], key["crv"], key["alg"]) == ("OKP", "Ed25519", "EdDSA")
        assert "d" not in key  # the public half only

        verifier = JwksTokenVerifier(f"{base_url}/api/identity/.well-known/jwks.json")
        principal = await verifier.verify(customer["access_token"])
        assert principal.subject == number
        assert principal.kind is PrincipalKind.CUSTOMER
        staff_principal = await verifier.verify(support["Authorization"].removeprefix("Bearer "))
        assert staff_principal.kind is PrincipalKind.STAFF
        assert staff_principal.roles == frozenset({Role.SUPPORT})

        # The same from a static copy of the JWKS document.
        static = StaticKeyTokenVerifier(keys_from_jwks(jwks))
        assert (await static.verify(customer["access_token"])).subject == number

        # A token with a changed claim (and the old signature) is refused.
        header, _, signature = customer["access_token"].split(".")
        forged_claims = jwt.decode(customer["access_token"], options={"verify_signature": False})
        forged_claims["sub"] = new_customer_number()
        forged_payload = base64url_encode(json.dumps(forged_claims).encode()).decode()
        forged = f"{header}.{forged_payload}.{signature}"
        with pytest.raises(InvalidToken):
            await verifier.verify(forged)

        contacts_db = await create_database(pg_server)
        async with running_service(CONTACTS, contacts_db, kafka, verifier=verifier) as (_, contacts):
            path = f"/api/contacts/v1/customers/{number}/contacts"
            own = await contacts.get(path, headers=bearer(customer))
            assert own.status_code == 200, own.text
            assert own.json()["customer_number"] == number
            other = await contacts.get(
                f"/api/contacts/v1/customers/{new_customer_number()}/contacts", headers=bearer(customer)
            )
            assert other.status_code == 404

            # Support names customers contacts has heard of: the account reaches it over identity.events.
            async def support_reads() -> bool:
                return (await contacts.get(path, headers=support)).status_code == 200

            await eventually(support_reads, "contacts to know the customer identity opened", 30.0)
            assert (await contacts.get(path)).status_code == 401
            assert (await contacts.get(path, headers={"Authorization": f"Bearer {forged}"})).status_code == 401

        # Tokens expire: one issued 20 minutes ago (by identity's clock) is refused everywhere.
        identity.clock.advance(timedelta(minutes=-20))
        stale = await identity.login(number, password)
        assert stale.status_code == 201
        with pytest.raises(InvalidToken):
            await verifier.verify(stale.json()["access_token"])
