"""Billing and contacts running together in-process (real PostgreSQL, Kafka and SMTP sink).

One pair of services per test module; tests use their own customer numbers. Both services share
the token issuer and a FixedClock the tests move forward, so "now" is the same instant for the
grant recorded in contacts and the decision taken in billing. Accounts are opened the way identity
announces them: a CustomerAccountOpened CloudEvent on identity.events.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.billing.service import SPEC as BILLING
from services.contacts.service import SPEC as CONTACTS
from shared.auth.principal import Role
from shared.auth.testing import TestTokenIssuer
from shared.clock import FixedClock
from shared.db import Pool
from shared.envelope import Actor, ActorKind
from shared.infra.smtp_sink import SmtpSink
from tests.conftest import create_database
from tests.support.kafka import announce_customer, find_header, records_until
from tests.support.services import running_service
from tests.support.waiting import eventually

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def new_customer() -> str:
    return str(random.randint(10_000_000, 99_999_999))


@dataclass
class BillingEnv:
    billing_app: FastAPI
    billing: httpx.AsyncClient
    contacts_app: FastAPI
    contacts: httpx.AsyncClient
    issuer: TestTokenIssuer
    clock: FixedClock
    sink: SmtpSink
    kafka: str

    @property
    def pool(self) -> Pool:
        pool: Pool = self.billing_app.state.runtime.pool
        return pool

    def owner(self, customer: str) -> dict[str, str]:
        return self.issuer.customer(customer)

    def support(self, name: str = "sam") -> dict[str, str]:
        return self.issuer.staff(name, Role.SUPPORT)

    def tick(self, seconds: float = 60) -> datetime:
        self.clock.advance(timedelta(seconds=seconds))
        return self.clock.now()

    def url(self, customer: str, path: str) -> str:
        return f"/api/billing/v1/customers/{customer}/{path}"

    # identity's part -------------------------------------------------------------------------
    async def open_account(self, customer: str, name: str = "Acme GmbH") -> str:
        """Announce the account as identity does, and wait until billing knows the customer."""
        await announce_customer(
            self.kafka,
            customer,
            f"owner-{customer}@example.org",
            name=name,
            occurred_at=self.clock.now(),
            actor=Actor(ActorKind.STAFF, "admin"),
        )
        await eventually(
            lambda: self.pool.fetchval("SELECT 1 FROM customer_accounts WHERE customer_number = $1", customer),
            f"billing to learn of customer {customer}",
        )
        return customer

    # contacts' part --------------------------------------------------------------------------
    def contacts_url(self, customer: str, path: str) -> str:
        return f"/api/contacts/v1/customers/{customer}/{path}"

    async def add_contact(self, customer: str, email: str, **fields: Any) -> tuple[str, int]:
        body = {"name": email.split("@")[0].title(), "email": email, **fields}
        r = await self.contacts.post(self.contacts_url(customer, "contacts"), json=body, headers=self.owner(customer))
        assert r.status_code == 201, r.text
        return str(r.json()["contact_id"]), int(r.json()["version"])

    async def grant(self, customer: str, contact_id: str, scopes: list[str]) -> tuple[str, int]:
        r = await self.contacts.post(
            self.contacts_url(customer, f"contacts/{contact_id}/authorizations"),
            json={"scopes": scopes},
            headers=self.owner(customer),
        )
        assert r.status_code == 201, r.text
        return str(r.json()["grant_id"]), int(r.json()["version"])

    async def revoke(self, customer: str, grant_id: str, reason: str = "no longer responsible") -> int:
        r = await self.contacts.post(
            self.contacts_url(customer, f"authorizations/{grant_id}/revocation"),
            json={"reason": reason},
            headers=self.owner(customer),
        )
        assert r.status_code == 200, r.text
        return int(r.json()["version"])

    async def issue_instruction(self, customer: str, reference: str) -> int:
        r = await self.contacts.put(
            self.contacts_url(customer, "official-instruction"),
            json={"document_reference": reference},
            headers=self.owner(customer),
        )
        assert r.status_code == 200, r.text
        return int(r.json()["version"])

    # billing's part --------------------------------------------------------------------------
    async def billing_knows(self, customer: str, contacts_version: int) -> int:
        """Wait until billing's authorization copy has applied contacts' stream up to a version."""

        async def applied() -> int | None:
            version: int | None = await self.pool.fetchval(
                "SELECT stream_version FROM authz_versions WHERE customer_number = $1 AND stream_id = $2",
                customer,
                f"customer-contacts-{customer}",
            )
            return version if version is not None and version >= contacts_version else None

        return await eventually(applied, f"billing to apply contacts version {contacts_version} of {customer}")

    async def put(
        self, customer: str, path: str, body: dict[str, Any], headers: dict[str, str], *, version: int | None = None
    ) -> httpx.Response:
        if version is None:
            current = await self.billing.get(self.url(customer, path), headers=self.owner(customer))
            assert current.status_code == 200, current.text
            version = int(current.json()["version"])
        return await self.billing.put(
            self.url(customer, path), json=body, headers={**headers, "If-Match": f'"{version}"'}
        )

    async def history(self, customer: str, **params: Any) -> dict[str, Any]:
        for runner in self.billing_app.state.workers.projection_runners:
            await runner.catch_up()
        r = await self.billing.get(self.url(customer, "billing-history"), params=params, headers=self.owner(customer))
        assert r.status_code == 200, r.text
        page: dict[str, Any] = r.json()
        return page


async def records_with_ids(kafka: str, topic: str, event_ids: Collection[str], timeout: float = 30.0) -> list[Any]:
    """The records of `topic` carrying these event ids (ce_id), one per id, once all have arrived."""
    records = await records_until(kafka, topic, event_ids, timeout=timeout)
    return list({find_header(r, "ce_id"): r for r in records if find_header(r, "ce_id") in event_ids}.values())


@asynccontextmanager
async def billing_env(pg_server: str, kafka: str, **settings: Any) -> AsyncIterator[BillingEnv]:
    sink = SmtpSink()
    port = sink.start()
    issuer = TestTokenIssuer()
    clock = FixedClock(START)
    billing_db, contacts_db = await create_database(pg_server), await create_database(pg_server)
    common: dict[str, Any] = {"clock": clock, "verifier": issuer.verifier(), "smtp_port": port}
    try:
        async with (
            running_service(CONTACTS, contacts_db, kafka, **common) as (contacts_app, contacts),
            running_service(BILLING, billing_db, kafka, **common, **settings) as (billing_app, billing),
        ):
            yield BillingEnv(billing_app, billing, contacts_app, contacts, issuer, clock, sink, kafka)
    finally:
        sink.stop()


@pytest.fixture(scope="module")
async def env(pg_server: str, kafka: str, service_topics: object) -> AsyncIterator[BillingEnv]:
    async with billing_env(pg_server, kafka) as env:
        yield env
