"""A contacts service running in-process for the contract and observability tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from services.contacts.service import SPEC
from shared.auth.testing import TestTokenIssuer
from tests.conftest import create_database
from tests.support.services import running_service


@dataclass
class Contacts:
    app: FastAPI
    client: httpx.AsyncClient
    issuer: TestTokenIssuer

    async def add_contact(self, customer: str, email: str, headers: dict[str, str] | None = None) -> httpx.Response:
        response = await self.client.post(
            f"/api/contacts/v1/customers/{customer}/contacts",
            json={"name": "Ada Lovelace", "email": email, "phone": "030 1234567"},
            headers={**self.issuer.customer(customer), **(headers or {})},
        )
        assert response.status_code == 201, response.text
        return response


@pytest.fixture(scope="package")
async def contacts(pg_server: str, kafka: str, service_topics: object) -> AsyncIterator[Contacts]:
    issuer = TestTokenIssuer()
    url = await create_database(pg_server)
    async with running_service(SPEC, url, kafka, verifier=issuer.verifier()) as (app, client):
        yield Contacts(app, client, issuer)
