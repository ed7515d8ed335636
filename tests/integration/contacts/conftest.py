"""One running contacts service per test module (real PostgreSQL, Kafka and SMTP sink).

Tests use their own customer numbers, so they share the service; the clock is a FixedClock the
tests move forward.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.contacts.service import SPEC
from shared.auth.principal import Role
from shared.auth.testing import TestTokenIssuer
from shared.clock import FixedClock
from shared.infra.smtp_sink import SmtpSink
from tests.conftest import create_database
from tests.support.kafka import announce_customer
from tests.support.services import running_service
from tests.support.waiting import eventually

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@dataclass
class ContactsEnv:
    app: FastAPI
    client: httpx.AsyncClient
    issuer: TestTokenIssuer
    clock: FixedClock
    sink: SmtpSink
    database_url: str
    kafka: str

    async def customer(self) -> str:
        """A new customer, announced on identity.events and known to contacts (staff naming a
        number no account was opened for get 404)."""
        n = new_customer()
        await announce_customer(self.kafka, n, f"owner-{n}@acme.example")
        pool = self.app.state.runtime.pool

        async def known() -> bool:
            return await pool.fetchval("SELECT 1 FROM customer_accounts WHERE customer_number = $1", n) is not None

        await eventually(known, f"contacts to know customer {n}", 30.0)
        return n

    def owner(self, customer: str) -> dict[str, str]:
        return self.issuer.customer(customer)

    def support(self, name: str = "sam") -> dict[str, str]:
        return self.issuer.staff(name, Role.SUPPORT)

    def tick(self, minutes: float = 1) -> datetime:
        self.clock.advance(timedelta(minutes=minutes))
        return self.clock.now()

    async def caught_up(self) -> None:
        for runner in self.app.state.workers.projection_runners:
            await runner.catch_up()
        follower = self.app.state.runtime.extras.get("authorization_follower")
        if follower is not None:
            await follower.catch_up()

    def url(self, customer: str, path: str = "") -> str:
        return f"/api/contacts/v1/customers/{customer}{path}"

    async def add_contact(self, customer: str, email: str, **fields: Any) -> str:
        body = {"name": fields.pop("name", email.split("@")[0].title()), "email": email, **fields}
        headers = fields.pop("headers", None) or self.owner(customer)
        r = await self.client.post(self.url(customer, "/contacts"), json=body, headers=headers)
        assert r.status_code == 201, r.text
        return str(r.json()["contact_id"])

    async def grant(self, customer: str, contact_id: str, scopes: list[str], **fields: Any) -> str:
        headers = fields.pop("headers", None) or self.owner(customer)
        r = await self.client.post(
            self.url(customer, f"/contacts/{contact_id}/authorizations"),
            json={"scopes": scopes, **fields},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        return str(r.json()["grant_id"])

    async def check(self, customer: str, requester: dict[str, str], action: str, **fields: Any) -> dict[str, Any]:
        headers = fields.pop("headers", None) or self.support()
        await self.caught_up()
        r = await self.client.post(
            self.url(customer, "/authorization-checks"),
            json={"requester": requester, "action": action, **fields},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result


def new_customer() -> str:
    return str(random.randint(10_000_000, 99_999_999))


@pytest.fixture(scope="module")
async def env(
    request: pytest.FixtureRequest, pg_server: str, kafka: str, service_topics: object
) -> AsyncIterator[ContactsEnv]:
    """The service; `indirect` parametrization picks the check's reader ("memory" or "sql")."""
    reader = getattr(request, "param", "memory")
    previous = os.environ.get("CONTACTS_AUTHZ_READER")
    os.environ["CONTACTS_AUTHZ_READER"] = reader
    sink = SmtpSink()
    port = sink.start()
    issuer = TestTokenIssuer()
    clock = FixedClock(START)
    url = await create_database(pg_server)
    try:
        async with running_service(SPEC, url, kafka, clock=clock, verifier=issuer.verifier(), smtp_port=port) as (
            app,
            client,
        ):
            yield ContactsEnv(app, client, issuer, clock, sink, url, kafka)
    finally:
        sink.stop()
        if previous is None:
            os.environ.pop("CONTACTS_AUTHZ_READER", None)
        else:
            os.environ["CONTACTS_AUTHZ_READER"] = previous
