"""Changing one's own password while logged in, through HTTP, with real PostgreSQL and SMTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from services.identity.domain.events import account_stream, staff_stream
from shared.auth import Role
from tests.integration.identity.harness import IdentityHarness, bearer, body_of, strong_password

pytestmark = pytest.mark.integration

CHANGE = "/api/identity/v1/me/password"
NOTICE_SUBJECT = "Your password was changed"


async def _change(
    identity: IdentityHarness, session: dict[str, Any], current: str, new: str, client: httpx.AsyncClient | None = None
) -> httpx.Response:
    body = {"current_password": current, "new_password": new}
    return await (client or identity.client).put(CHANGE, json=body, headers=bearer(session))


async def _staff_login(identity: IdentityHarness, username: str, password: str) -> httpx.Response:
    return await identity.client.post(
        "/api/identity/v1/staff-sessions", json={"username": username, "password": password}
    )


async def test_a_customer_changes_it_keeps_this_session_and_ends_the_others(identity: IdentityHarness) -> None:
    number, email, password = await identity.customer_with_password()
    here = (await identity.login(number, password)).json()
    elsewhere = (await identity.login(number, password)).json()
    notices = len([m for m in identity.mails_to(email) if m["Subject"] == NOTICE_SUBJECT])

    new_password = strong_password("changed")
    changed = await _change(identity, here, password, new_password)
    assert changed.status_code == 204, changed.text

    assert (await identity.client.get("/api/identity/v1/me", headers=bearer(here))).status_code == 200
    assert (await identity.client.get("/api/identity/v1/me", headers=bearer(elsewhere))).status_code == 401
    refreshed = await identity.client.post(
        "/api/identity/v1/sessions/refresh", json={"refresh_token": elsewhere["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert (await identity.login(number, password)).status_code == 401
    assert (await identity.login(number, new_password)).status_code == 201

    notice = await identity.next_mail(email, notices, NOTICE_SUBJECT)
    text = body_of(notice)
    assert "every other open session was logged out" in text
    assert new_password not in text
    assert password not in text

    stream = await identity.runtime.uow.store.load(account_stream(number))
    changes = [e for e in stream.events if e.event_type == "PasswordChanged"]
    assert changes[-1].data == {
        "subject": number,
        "subject_kind": "customer",
        "method": "current_password",
        "sessions_revoked": 1,
    }
    assert changes[-1].actor.id == number
    revoked = await identity.runtime.pool.fetch(
        "SELECT data FROM events WHERE event_type = 'SessionRevoked' AND data->>'session_id' = $1",
        elsewhere["session_id"],
    )
    assert [r["data"]["reason"] for r in revoked] == ["password_changed"]
    secrets_seen = await identity.runtime.pool.fetchval(
        "SELECT count(*) FROM events WHERE data::text LIKE '%' || $1 || '%' OR data::text LIKE '%' || $2 || '%'",
        password,
        new_password,
    )
    assert secrets_seen == 0


async def test_a_staff_user_replaces_the_initial_password(identity: IdentityHarness) -> None:
    username, initial = await identity.create_staff(Role.SUPPORT)
    session = (await _staff_login(identity, username, initial)).json()

    own = strong_password("own")
    assert (await _change(identity, session, initial, own)).status_code == 204

    assert (await _staff_login(identity, username, initial)).status_code == 401
    assert (await _staff_login(identity, username, own)).status_code == 201
    stream = await identity.runtime.uow.store.load(staff_stream(username))
    changed = [e for e in stream.events if e.event_type == "PasswordChanged"]
    assert [(e.data["subject_kind"], e.data["method"], e.customer_number) for e in changed] == [
        ("staff", "current_password", "0")
    ]


async def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failed_attempt(
    identity: IdentityHarness,
) -> None:
    number, _, password = await identity.customer_with_password()
    session = (await identity.login(number, password)).json()

    for _ in range(5):
        refused = await _change(identity, session, "not-the-password-at-all", strong_password("x"))
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"] == "The current password is wrong."
    # The login throttle counted them: the next attempt, by either route, has to wait.
    throttled = await _change(identity, session, password, strong_password("y"))
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert (await identity.login(number, password)).status_code == 429

    stream = await identity.runtime.uow.store.load(account_stream(number))
    assert [e.data["method"] for e in stream.events if e.event_type == "PasswordChanged"] == ["one_time_password"]


async def test_new_password_rules_come_first_and_cost_no_attempt(identity: IdentityHarness) -> None:
    number, email, password = await identity.customer_with_password()
    session = (await identity.login(number, password)).json()

    for weak in ("short", f"my-{number}-password", f"{email.split('@')[0]}-and-more", password):
        refused = await _change(identity, session, password, weak)
        assert refused.status_code == 422, (weak, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    for _ in range(5):  # as many as the throttle lets through before a delay
        assert (await _change(identity, session, password, "password")).status_code == 422
    assert (await _change(identity, session, password, strong_password("fine"))).status_code == 204


async def test_needs_a_live_session_and_a_body(identity: IdentityHarness) -> None:
    number, _, password = await identity.customer_with_password()
    session = (await identity.login(number, password)).json()
    assert (
        await identity.client.put(CHANGE, json={"current_password": password, "new_password": "x" * 20})
    ).status_code == 401
    missing = await identity.client.put(CHANGE, json={"new_password": strong_password()}, headers=bearer(session))
    assert missing.status_code == 422
    assert missing.headers["content-type"] == "application/problem+json"
    logout = await identity.client.post(
        "/api/identity/v1/sessions/logout", json={"refresh_token": session["refresh_token"]}
    )
    assert logout.status_code == 204, logout.text
    ended = await _change(identity, session, password, strong_password("late"))
    assert ended.status_code == 401
    assert (await identity.login(number, password)).status_code == 201


async def test_two_changes_at_once_never_both_succeed(identity: IdentityHarness) -> None:
    number, _, password = await identity.customer_with_password()
    one = (await identity.login(number, password)).json()
    two = (await identity.login(number, password)).json()
    first, second = strong_password("first"), strong_password("second")

    answers = await asyncio.gather(_change(identity, one, password, first), _change(identity, two, password, second))
    codes = sorted(a.status_code for a in answers)
    # The loser finds its session ended (401), the old password gone (403), or the hash it
    # proved replaced meanwhile (409): never two successes.
    assert codes[0] == 204, [a.text for a in answers]
    assert codes[1] in (401, 403, 409), [a.text for a in answers]
    winner = first if answers[0].status_code == 204 else second
    assert (await identity.login(number, winner)).status_code == 201
    stream = await identity.runtime.uow.store.load(account_stream(number))
    assert [e.data["method"] for e in stream.events if e.event_type == "PasswordChanged"] == [
        "one_time_password",
        "current_password",
    ]


async def test_a_password_replaced_while_hashing_the_new_one_is_a_conflict(
    identity: IdentityHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    number, _, password = await identity.customer_with_password()
    session = (await identity.login(number, password)).json()
    hasher = identity.runtime.hasher
    hash_new = hasher.hash

    async def reset_meanwhile(secret: str) -> str:
        # As if a reset by one-time password committed between the proof and the replacement.
        await identity.runtime.pool.execute(
            "UPDATE credentials SET password_hash = $2 WHERE subject = $1",
            number,
            await hash_new("reset-elsewhere-123"),
        )
        return await hash_new(secret)

    monkeypatch.setattr(hasher, "hash", reset_meanwhile)
    conflict = await _change(identity, session, password, strong_password("late"))
    assert conflict.status_code == 409, conflict.text
    assert conflict.headers["content-type"] == "application/problem+json"
    monkeypatch.undo()

    assert (await identity.login(number, "reset-elsewhere-123")).status_code == 201
    assert (await identity.client.get("/api/identity/v1/me", headers=bearer(session))).status_code == 200
    stream = await identity.runtime.uow.store.load(account_stream(number))
    assert [e.data["method"] for e in stream.events if e.event_type == "PasswordChanged"] == ["one_time_password"]
