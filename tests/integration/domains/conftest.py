"""Contacts and domains running together in-process (real PostgreSQL, Kafka and an SMTP sink).

One pair of services for the whole package (tests use their own customer numbers): the same
token issuer verifies in both, and both read one FixedClock that tests move forward, so grants
expire when a test says so. Customers become known to domains the way identity announces them
(`CustomerAccountOpened` on identity.events); grants travel contacts -> Kafka -> domains' own
authorization read model, and tests wait until domains has seen them.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.contacts.service import SPEC as CONTACTS
from services.domains.service import SPEC as DOMAINS
from shared.auth.principal import Role
from shared.auth.testing import TestTokenIssuer
from shared.clock import FixedClock
from shared.infra.smtp_sink import SmtpSink
from tests.conftest import create_database
from tests.support.kafka import announce_customer
from tests.support.services import running_service
from tests.support.waiting import eventually

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
API = "/api/domains/v1"


def new_customer() -> str:
    return str(random.randint(10_000_000, 99_999_999))


@dataclass
class Env:
    contacts: httpx.AsyncClient
    domains: httpx.AsyncClient
    domains_app: FastAPI
    issuer: TestTokenIssuer
    clock: FixedClock
    sink: SmtpSink
    kafka: str
    domains_db: str

    # --- who calls -------------------------------------------------------------------------
    def owner(self, customer: str) -> dict[str, str]:
        return self.issuer.customer(customer)

    def support(self, on_behalf_of: str | None = None, name: str = "sam") -> dict[str, str]:
        headers = self.issuer.staff(name, Role.SUPPORT)
        if on_behalf_of is not None:
            headers["On-Behalf-Of"] = on_behalf_of
        return headers

    def tick(self, minutes: float = 1) -> datetime:
        self.clock.advance(timedelta(minutes=minutes))
        return self.clock.now()

    @property
    def pool(self) -> Any:
        return self.domains_app.state.runtime.pool

    # --- customers and contacts --------------------------------------------------------------
    async def customer(self) -> str:
        """A new customer, announced on identity.events and known to domains."""
        n = new_customer()
        await announce_customer(self.kafka, n, f"owner-{n}@acme.example")
        await self.until("SELECT 1 FROM customer_accounts WHERE customer_number = $1", n)
        return n

    async def add_contact(self, customer: str, email: str, **fields: Any) -> str:
        body = {"name": fields.pop("name", email.split("@")[0].title()), "email": email, **fields}
        r = await self.contacts.post(
            f"/api/contacts/v1/customers/{customer}/contacts", json=body, headers=self.owner(customer)
        )
        assert r.status_code == 201, r.text
        contact_id = str(r.json()["contact_id"])
        await self.until("SELECT 1 FROM authz_contacts WHERE contact_id = $1", uuid.UUID(contact_id))
        return contact_id

    async def grant(self, customer: str, contact_id: str, scopes: list[str], **fields: Any) -> str:
        r = await self.contacts.post(
            f"/api/contacts/v1/customers/{customer}/contacts/{contact_id}/authorizations",
            json={"scopes": scopes, **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}},
            headers=self.owner(customer),
        )
        assert r.status_code == 201, r.text
        grant_id = str(r.json()["grant_id"])
        await self.until("SELECT 1 FROM authz_grants WHERE grant_id = $1", uuid.UUID(grant_id))
        return grant_id

    async def revoke(self, customer: str, grant_id: str) -> None:
        r = await self.contacts.post(
            f"/api/contacts/v1/customers/{customer}/authorizations/{grant_id}/revocation",
            json={"reason": "left the project"},
            headers=self.owner(customer),
        )
        assert r.status_code == 200, r.text
        await self.until(
            "SELECT 1 FROM authz_grants WHERE grant_id = $1 AND revoked_at IS NOT NULL", uuid.UUID(grant_id)
        )

    async def issue_instruction(self, customer: str) -> None:
        r = await self.contacts.put(
            f"/api/contacts/v1/customers/{customer}/official-instruction",
            json={"document_reference": "SCAN-2026-42"},
            headers=self.owner(customer),
        )
        assert r.status_code == 200, r.text
        await self.until("SELECT 1 FROM authz_instructions WHERE customer_number = $1 AND in_force", customer)

    async def until(self, sql: str, *args: Any, timeout: float = 30.0) -> None:
        """Wait until domains' database answers `sql` with a row (what Kafka brought has arrived),
        and until the API's in-memory authorizations have let go of what that changed."""

        async def seen() -> bool:
            return await self.pool.fetchval(sql, *args) is not None

        await eventually(seen, f"domains to see: {sql} {args}", timeout)
        await self.domains_app.state.runtime.extras["domains"].authorizations.synced()

    async def contracts_caught_up(self) -> None:
        for runner in self.domains_app.state.workers.projection_runners:
            await runner.catch_up()

    # --- domains API ---------------------------------------------------------------------------
    def url(self, customer: str, path: str = "") -> str:
        return f"{API}/customers/{customer}{path}"

    async def register(self, customer: str, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.domains.post(
            self.url(customer, "/domains"), json={"name": name}, headers=headers or self.owner(customer)
        )

    async def registered(self, customer: str, name: str | None = None) -> str:
        name = name or f"d{uuid.uuid4().hex[:10]}.de"
        r = await self.register(customer, name)
        assert r.status_code == 201, r.text
        return str(r.json()["domain"])

    async def mail_to(self, address: str, subject_part: str = "") -> EmailMessage:
        return await self.sink.wait_for(
            lambda m: address in str(m["To"]) and subject_part in str(m["Subject"]), timeout=10
        )


def link_token(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    match = re.search(r"#token=([A-Za-z0-9_-]+)", body.get_content())
    assert match is not None
    return match.group(1)


def mailed_password(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    match = re.search(r"Password: (\S+)", body.get_content())
    assert match is not None
    return match.group(1)


@pytest.fixture(scope="package")
async def env(pg_server: str, kafka: str, service_topics: object) -> AsyncIterator[Env]:
    sink = SmtpSink()
    port = sink.start()
    issuer = TestTokenIssuer()
    clock = FixedClock(START)
    contacts_db, domains_db = await create_database(pg_server), await create_database(pg_server)
    verifier = issuer.verifier()
    try:
        async with (
            running_service(CONTACTS, contacts_db, kafka, clock=clock, verifier=verifier, smtp_port=port) as (_, c),
            running_service(DOMAINS, domains_db, kafka, clock=clock, verifier=verifier, smtp_port=port) as (app, d),
        ):
            yield Env(c, d, app, issuer, clock, sink, kafka, domains_db)
    finally:
        sink.stop()
