"""Refresh-token rotation, reuse detection and logout."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from services.identity.domain.events import session_stream
from tests.integration.identity.harness import IdentityHarness, bearer

pytestmark = pytest.mark.integration

REFRESH = "/api/identity/v1/sessions/refresh"


async def _login(identity: IdentityHarness) -> dict[str, Any]:
    number, _, password = await identity.customer_with_password()
    response = await identity.login(number, password)
    assert response.status_code == 201, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def test_refresh_rotates_and_reuse_revokes_the_whole_session(identity: IdentityHarness) -> None:
    first = await _login(identity)
    verifier = identity.runtime.signer.verifier()
    login_principal = await verifier.verify(first["access_token"])

    r2 = await identity.client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert r2.status_code == 200, r2.text
    second = r2.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["session_id"] == first["session_id"]
    refreshed_principal = await verifier.verify(second["access_token"])
    assert refreshed_principal.session_id == login_principal.session_id
    assert refreshed_principal.auth_time == login_principal.auth_time  # refreshing is not logging in

    r3 = await identity.client.post(REFRESH, json={"refresh_token": second["refresh_token"]})
    assert r3.status_code == 200
    third = r3.json()

    # The first token was spent: presenting it again means someone else holds a copy.
    replay = await identity.client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    # ... so the whole family is dead, including the newest token of the legitimate holder.
    assert (await identity.client.post(REFRESH, json={"refresh_token": third["refresh_token"]})).status_code == 401
    assert (await identity.client.get("/api/identity/v1/me", headers=bearer(third))).status_code == 401

    stream = await identity.runtime.uow.store.load(session_stream(uuid.UUID(first["session_id"])))
    assert [e.event_type for e in stream.events] == ["LoginSucceeded", "RefreshTokenReuseDetected", "SessionRevoked"]
    assert stream.events[-1].data["reason"] == "refresh_token_reuse"
    # Replaying again changes nothing more.
    assert (await identity.client.post(REFRESH, json={"refresh_token": first["refresh_token"]})).status_code == 401
    assert (await identity.runtime.uow.store.load(stream.stream_id)).version == 3


async def test_logout_revokes_the_session(identity: IdentityHarness) -> None:
    tokens = await _login(identity)
    out = await identity.client.post(
        "/api/identity/v1/sessions/logout", json={"refresh_token": tokens["refresh_token"]}
    )
    assert out.status_code == 204
    assert (await identity.client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})).status_code == 401
    assert (await identity.client.get("/api/identity/v1/me", headers=bearer(tokens))).status_code == 401
    unknown = await identity.client.post("/api/identity/v1/sessions/logout", json={"refresh_token": "nonsense"})
    assert unknown.status_code == 204
    stream = await identity.runtime.uow.store.load(session_stream(uuid.UUID(tokens["session_id"])))
    assert [e.event_type for e in stream.events] == ["LoginSucceeded", "SessionRevoked"]
    assert stream.events[-1].data["reason"] == "logout"


async def test_refresh_tokens_expire(identity: IdentityHarness) -> None:
    tokens = await _login(identity)
    identity.clock.advance(timedelta(hours=2, seconds=1))
    assert (await identity.client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})).status_code == 401


async def test_sessions_end_after_their_maximum_age_however_often_refreshed(identity: IdentityHarness) -> None:
    tokens = await _login(identity)
    for _ in range(7):
        identity.clock.advance(timedelta(hours=1, minutes=50))
        response = await identity.client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        if response.status_code != 200:
            break
        tokens = response.json()
    assert response.status_code == 401
