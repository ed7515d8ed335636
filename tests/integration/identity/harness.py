"""Driving a running identity service in tests: accounts, staff, mails, logins, through its API."""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx
from fastapi import FastAPI

from services.identity.adapters.hashing import Argon2Parameters, SecretHasher
from services.identity.domain import accounts, staff
from services.identity.handlers import accounts as account_handlers
from services.identity.runtime import EXTRA, IdentityRuntime
from shared.auth.principal import Role
from shared.clock import FixedClock
from shared.envelope import Actor, ActorKind, EventContext
from shared.infra.smtp_sink import SmtpSink

CODE = re.compile(r"\b([2-9A-HJ-NP-Z]{5}-[2-9A-HJ-NP-Z]{5})\b")
# Far below any production setting: these tests are about flows, not about the cost of hashing.
CHEAP_ARGON2 = Argon2Parameters(memory_kib=256, time_cost=1, parallelism=1)


def cheap_hasher() -> SecretHasher:
    return SecretHasher(CHEAP_ARGON2, concurrency=2)


def new_customer_number() -> str:
    return str(random.randint(10_000_000, 99_999_999))


def strong_password(label: str = "pw") -> str:
    return f"{label}-{uuid.uuid4().hex[:16]}-Gänseblümchen"


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def code_in(message: EmailMessage) -> str:
    match = CODE.search(body_of(message))
    assert match, "no one-time password in the mail"
    return match.group(1)


@dataclass
class IdentityHarness:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FixedClock
    sink: SmtpSink

    @property
    def runtime(self) -> IdentityRuntime:
        identity: IdentityRuntime = self.app.state.runtime.extras[EXTRA]
        return identity

    def client_from(self, address: str) -> httpx.AsyncClient:
        """A client whose requests come from `address` (as the gateway would forward it)."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://service.test")

    def _context(self, customer_number: str) -> EventContext:
        return EventContext(customer_number, Actor(ActorKind.STAFF, "test-admin"), self.clock.now(), uuid.uuid4())

    async def open_account(
        self, number: str | None = None, *, name: str = "Ada Lovelace", email: str | None = None
    ) -> tuple[str, str]:
        """Open an account (straight through the handler); returns customer number and e-mail."""
        number = number or new_customer_number()
        email = email or f"c{number}-{uuid.uuid4().hex[:6]}@example.org"
        cmd = accounts.OpenCustomerAccount(number, name, email)
        await account_handlers.open_customer_account(self.runtime, cmd, self._context(number))
        return number, email

    async def create_staff(self, *roles: Role, password: str | None = None) -> tuple[str, str]:
        username = f"staff-{uuid.uuid4().hex[:8]}"
        password = password or strong_password("staff")
        cmd = staff.CreateStaffUser(username, "Grace Hopper", frozenset(roles))
        await account_handlers.create_staff_user(self.runtime, cmd, password, self._context("0"), None)
        return username, password

    async def staff_headers(self, *roles: Role) -> dict[str, str]:
        username, password = await self.create_staff(*roles)
        response = await self.client.post(
            "/api/identity/v1/staff-sessions", json={"username": username, "password": password}
        )
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def mails_to(self, address: str) -> list[EmailMessage]:
        return [m for m in list(self.sink.messages) if m["To"] == address]

    async def next_mail(self, address: str, already_seen: int, subject: str | None = None) -> EmailMessage:
        def wanted(message: EmailMessage) -> bool:
            return message["To"] == address and (subject is None or message["Subject"] == subject)

        matching: list[EmailMessage] = []

        def nth(message: EmailMessage) -> bool:
            if wanted(message) and message not in matching:
                matching.append(message)
            return len(matching) > already_seen and message is matching[already_seen]

        return await self.sink.wait_for(nth)

    async def request_code(self, number: str, email: str) -> str:
        """Ask for a one-time password over HTTP and read it out of the mail."""
        seen = len([m for m in self.mails_to(email) if m["Subject"] == "Your one-time password"])
        response = await self.client.post("/api/identity/v1/password-resets", json={"customer_number": number})
        assert response.status_code == 202, response.text
        return code_in(await self.next_mail(email, seen, "Your one-time password"))

    async def confirm(self, number: str, code: str, new_password: str) -> httpx.Response:
        return await self.client.post(
            "/api/identity/v1/password-resets/confirm",
            json={"customer_number": number, "one_time_password": code, "new_password": new_password},
        )

    async def set_password(self, number: str, email: str, password: str) -> None:
        response = await self.confirm(number, await self.request_code(number, email), password)
        assert response.status_code == 204, response.text

    async def login(self, number: str, password: str, client: httpx.AsyncClient | None = None) -> httpx.Response:
        return await (client or self.client).post(
            "/api/identity/v1/sessions", json={"customer_number": number, "password": password}
        )

    async def customer_with_password(self) -> tuple[str, str, str]:
        number, email = await self.open_account()
        password = strong_password()
        await self.set_password(number, email, password)
        return number, email, password


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
