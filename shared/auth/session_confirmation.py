"""Asking identity whether a token's session is live, while identity.events cannot be read.

A service learns of ended sessions from identity.events (`shared.auth.revocations`). While that
topic cannot be read (Kafka away), a session ended meanwhile would look live to it until its
tokens expire. Rather than stop serving (the whole API out for as long as Kafka is), the guard
then asks identity, which keeps the sessions in its own database, once per session and second.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import httpx
import structlog

from shared import metrics
from shared.auth.principal import Principal
from shared.errors import TemporarilyRefused

log = structlog.get_logger(__name__)

CONFIRMED_FOR_S = 1.0  # a confirmed session is not asked about again for this long
JWKS_SUFFIX = "/.well-known/jwks.json"


def session_url_beside(jwks_url: str) -> str:
    """Identity's `/me`, next to its JWKS (both under /api/identity): 200 while the bearer token's
    session is live in identity's database, 401 once it ended."""
    return jwks_url.removesuffix(JWKS_SUFFIX) + "/v1/me"


def identity_unreachable() -> TemporarilyRefused:
    return TemporarilyRefused(
        "Whether your session is still valid cannot be confirmed just now; try again shortly.", retry_after_s=5
    )


class SessionConfirmer(Protocol):
    async def live(self, token: str, principal: Principal) -> bool:
        """Whether the token's session is live; raises `TemporarilyRefused` when no one can say."""

    async def close(self) -> None: ...


class IdentitySessionConfirmer:
    """Asks identity's `GET /api/identity/v1/me` with the caller's own token (no
    credentials of the service's own are needed: the token only proves what its holder may know)."""

    def __init__(self, url: str, *, timeout_s: float = 2.0) -> None:
        self.url = url
        self._client = httpx.AsyncClient(timeout=timeout_s)

    async def live(self, token: str, principal: Principal) -> bool:
        try:
            response = await self._client.get(self.url, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            log.warning("session_confirmation_failed", error=type(exc).__name__)
            metrics.SESSION_CONFIRMATIONS.labels("unavailable").inc()
            raise identity_unreachable() from None
        if response.status_code in (200, 401):
            live = response.status_code == 200
            metrics.SESSION_CONFIRMATIONS.labels("live" if live else "ended").inc()
            return live
        log.warning("session_confirmation_failed", status=response.status_code)
        metrics.SESSION_CONFIRMATIONS.labels("unavailable").inc()
        raise identity_unreachable()

    async def close(self) -> None:
        await self._client.aclose()


class Confirmations:
    """Sessions confirmed live within the last `CONFIRMED_FOR_S`, and one question to identity at a
    time per session (a burst of requests of one session waits for the same answer)."""

    def __init__(self, confirmer: SessionConfirmer) -> None:
        self.confirmer = confirmer
        self._until: dict[str, float] = {}
        self._asking: dict[str, asyncio.Task[bool]] = {}

    def recent(self, session_id: str | None) -> bool:
        return session_id is not None and self._until.get(session_id, 0.0) > time.monotonic()

    async def live(self, token: str, principal: Principal) -> bool:
        sid = principal.session_id
        if sid is None:  # (no session to remember an answer for: each such token is asked about)
            return await self.confirmer.live(token, principal)
        question = self._asking.get(sid)
        if question is None:
            # A task of its own: a requester that goes away does not take the answer from the others.
            question = self._asking[sid] = asyncio.create_task(self._ask(token, principal))
            question.add_done_callback(_retrieved)
        return await asyncio.shield(question)

    async def _ask(self, token: str, principal: Principal) -> bool:
        sid = principal.session_id
        assert sid is not None
        try:
            live = await self.confirmer.live(token, principal)
        finally:
            del self._asking[sid]
        if live:
            now = time.monotonic()
            if len(self._until) > 10_000:  # forget the expired ones now and then
                self._until = {s: t for s, t in self._until.items() if t > now}
            self._until[sid] = now + CONFIRMED_FOR_S
        return live


def _retrieved(task: asyncio.Task[bool]) -> None:
    """Marks a failed question's error as seen: the requests that waited for it have raised it."""
    if not task.cancelled():
        task.exception()
