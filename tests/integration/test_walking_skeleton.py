"""The walking skeleton: a contact added in contacts shows up in domains' own read model via Kafka."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from services.contacts.service import SPEC as CONTACTS
from services.domains.service import SPEC as DOMAINS
from shared import db
from shared.auth.principal import Role
from shared.auth.testing import TestTokenIssuer
from tests.conftest import create_database
from tests.support.services import running_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def _customer() -> str:
    return str(random.randint(10_000_000, 99_999_999))


async def test_contact_added_in_contacts_is_visible_in_domains(
    pg_server: str, kafka: str, service_topics: object
) -> None:
    contacts_db, domains_db = await create_database(pg_server), await create_database(pg_server)
    customer = _customer()
    issuer = TestTokenIssuer()
    async with (
        running_service(CONTACTS, contacts_db, kafka, verifier=issuer.verifier()) as (_, contacts),
        running_service(DOMAINS, domains_db, kafka, verifier=issuer.verifier()) as (_, domains),
    ):
        # The contacts list in domains is personal data: the customer's own token (or staff's).
        domains.headers.update(issuer.customer(customer))
        response = await contacts.post(
            f"/api/contacts/v1/customers/{customer}/contacts",
            json={"name": "Ada Lovelace", "email": "Ada@Example.org", "phone": "+49 30 1234567"},
            headers={"X-Request-ID": "req-skeleton-1", **issuer.customer(customer)},
        )
        assert response.status_code == 201, response.text
        contact_id = response.json()["contact_id"]
        assert response.headers["x-request-id"] == "req-skeleton-1"

        await _wait_for(domains, customer, bool)
        seen = await domains.get(f"/api/domains/v1/customers/{customer}/contacts")
        [contact] = seen.json()["contacts"]
        assert contact["contact_id"] == contact_id
        assert contact["email"] == "ada@example.org"

        changed = await contacts.put(
            f"/api/contacts/v1/customers/{customer}/contacts/{contact_id}",
            json={"name": "Ada King", "email": "ada@example.org"},
            headers=issuer.customer(customer),
        )
        assert changed.status_code == 200, changed.text
        await _wait_for(domains, customer, lambda cs: bool(cs) and cs[0]["name"] == "Ada King")
        removed = await contacts.delete(
            f"/api/contacts/v1/customers/{customer}/contacts/{contact_id}", headers=issuer.customer(customer)
        )
        assert removed.status_code == 200, removed.text
        await _wait_for(domains, customer, lambda cs: cs == [])

        stranger = f"/api/domains/v1/customers/{_customer()}/contacts"
        assert (await domains.get(stranger)).status_code == 404  # another customer's number, this one's token
        other = await domains.get(stranger, headers=issuer.staff("sam", Role.SUPPORT))
        assert other.json()["contacts"] == []

        for path in ("healthz", "readyz"):
            for name, client in (("contacts", contacts), ("domains", domains)):
                r = await client.get(f"/api/{name}/{path}")
                assert r.status_code == 200, r.text


async def _wait_for(domains: httpx.AsyncClient, customer: str, done: Callable[[list[Any]], bool]) -> None:
    async def arrived() -> bool:
        seen = await domains.get(f"/api/domains/v1/customers/{customer}/contacts")
        assert seen.status_code == 200, seen.text
        return done(seen.json()["contacts"])

    await eventually(arrived, "the change to reach domains")


BAD_BODIES: list[tuple[str, bytes, int]] = [
    ("malformed JSON", b'{"name": "x", "email": ', 400),
    ("not an object", b'["a", "b"]', 422),
    ("wrong types", b'{"name": 12, "email": true}', 422),
    ("missing e-mail", b'{"name": "Bob"}', 422),
    ("invalid e-mail", b'{"name": "Bob", "email": "not-an-address"}', 422),
    ("unknown field", b'{"name": "Bob", "email": "bob@example.org", "admin": true}', 422),
    ("empty name", b'{"name": "", "email": "bob@example.org"}', 422),
    ("oversized", b'{"name": "' + b"x" * 70_000 + b'", "email": "bob@example.org"}', 413),
]


async def test_bad_input_gets_problem_json_and_appends_nothing(
    pg_server: str, kafka: str, service_topics: object
) -> None:
    contacts_db = await create_database(pg_server)
    customer = _customer()
    issuer = TestTokenIssuer()
    owner = issuer.customer(customer)
    async with running_service(CONTACTS, contacts_db, kafka, verifier=issuer.verifier()) as (_, contacts):
        unauthenticated = await contacts.post(
            f"/api/contacts/v1/customers/{customer}/contacts", json={"name": "Bob", "email": "bob@example.org"}
        )
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["content-type"] == "application/problem+json"
        for label, body, status in BAD_BODIES:
            r = await contacts.post(
                f"/api/contacts/v1/customers/{customer}/contacts",
                content=body,
                headers={"content-type": "application/json", **owner},
            )
            assert r.status_code == status, (label, r.status_code, r.text)
            assert r.headers["content-type"] == "application/problem+json", label
            problem = r.json()
            assert problem["status"] == status
            assert problem["title"]

        r = await contacts.post(
            "/api/contacts/v1/customers/12ab/contacts", json={"name": "A", "email": "a@b.de"}, headers=owner
        )
        assert r.status_code == 422
        r = await contacts.get("/api/contacts/v1/nothing-here")
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"

        conn = await db.connect(contacts_db)
        try:
            assert await conn.fetchval("SELECT count(*) FROM events") == 0
        finally:
            await conn.close()

        ok = await contacts.post(
            f"/api/contacts/v1/customers/{customer}/contacts",
            json={"name": "Bob", "email": "bob@example.org"},
            headers=owner,
        )
        assert ok.status_code == 201
        again = await contacts.post(
            f"/api/contacts/v1/customers/{customer}/contacts",
            json={"name": "Bob 2", "email": "BOB@example.org"},
            headers=owner,
        )
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
