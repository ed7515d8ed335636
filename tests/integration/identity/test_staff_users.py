"""Admins managing staff users over HTTP: roles, a new password, deactivation (real PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.identity.domain.events import staff_stream
from shared.auth import Role
from tests.integration.identity.harness import IdentityHarness, bearer, strong_password

pytestmark = pytest.mark.integration

STAFF = "/api/identity/v1/staff-users"


async def _login(identity: IdentityHarness, username: str, password: str) -> httpx.Response:
    return await identity.client.post(
        "/api/identity/v1/staff-sessions", json={"username": username, "password": password}
    )


async def _session(identity: IdentityHarness, *roles: Role) -> tuple[str, str, dict[str, Any]]:
    username, password = await identity.create_staff(*roles)
    response = await _login(identity, username, password)
    assert response.status_code == 201, response.text
    return username, password, response.json()


async def _me(identity: IdentityHarness, session: dict[str, Any]) -> httpx.Response:
    return await identity.client.get("/api/identity/v1/me", headers=bearer(session))


async def _events(identity: IdentityHarness, username: str) -> list[tuple[str, dict[str, Any]]]:
    stream = await identity.runtime.uow.store.load(staff_stream(username))
    return [(e.event_type, dict(e.data)) for e in stream.events]


async def test_changing_roles_ends_the_sessions_and_the_next_token_carries_them(identity: IdentityHarness) -> None:
    _, _, admin = await _session(identity, Role.ADMIN)
    agent, password, before = await _session(identity, Role.SUPPORT)

    changed = await identity.client.put(f"{STAFF}/{agent}/roles", json={"roles": ["compliance"]}, headers=bearer(admin))
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "username": agent,
        "display_name": "Grace Hopper",
        "roles": ["compliance"],
        "active": True,
    }

    assert (await _me(identity, before)).status_code == 401
    after = (await _login(identity, agent, password)).json()
    assert (await _me(identity, after)).json()["roles"] == ["compliance"]
    events = await _events(identity, agent)
    assert ("StaffRolesChanged", {"username": agent, "roles": ["compliance"], "previous_roles": ["support"]}) in events
    revoked = await identity.runtime.pool.fetch(
        "SELECT data FROM events WHERE event_type = 'SessionRevoked' AND data->>'session_id' = $1",
        before["session_id"],
    )
    assert [r["data"]["reason"] for r in revoked] == ["roles_changed"]

    # The same roles again: nothing to record, nobody logged out.
    again = await identity.client.put(f"{STAFF}/{agent}/roles", json={"roles": ["compliance"]}, headers=bearer(admin))
    assert again.status_code == 200
    assert (await _me(identity, after)).status_code == 200
    assert [t for t, _ in await _events(identity, agent)].count("StaffRolesChanged") == 1


async def test_a_deactivated_user_is_out_for_good(identity: IdentityHarness) -> None:
    _, _, admin = await _session(identity, Role.ADMIN)
    agent, password, session = await _session(identity, Role.SUPPORT)

    body = {"reason": "left the company"}
    gone = await identity.client.post(f"{STAFF}/{agent}/deactivation", json=body, headers=bearer(admin))
    assert gone.status_code == 200, gone.text
    assert gone.json()["active"] is False

    assert (await _me(identity, session)).status_code == 401
    refreshed = await identity.client.post(
        "/api/identity/v1/sessions/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert refreshed.status_code == 401
    refused = await _login(identity, agent, password)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await identity.client.get(f"{STAFF}/{agent}", headers=bearer(admin))).json()["active"] is False

    # Asked again: the same answer, no second event; nothing else can be done to the user.
    again = await identity.client.post(f"{STAFF}/{agent}/deactivation", json=body, headers=bearer(admin))
    assert again.status_code == 200
    roles = await identity.client.put(f"{STAFF}/{agent}/roles", json={"roles": ["admin"]}, headers=bearer(admin))
    assert roles.status_code == 409
    new_password = {"new_password": strong_password("back")}
    assert (
        await identity.client.put(f"{STAFF}/{agent}/password", json=new_password, headers=bearer(admin))
    ).status_code == 409
    assert (await _login(identity, agent, new_password["new_password"])).status_code == 401
    events = await _events(identity, agent)
    assert [t for t, _ in events] == ["StaffUserCreated", "StaffUserDeactivated"]
    assert events[1][1] == {"username": agent, "reason": "left the company"}
    taken = await identity.client.post(
        STAFF,
        json={"username": agent, "display_name": "X", "roles": ["admin"], "initial_password": strong_password()},
        headers=bearer(admin),
    )
    assert taken.status_code == 409


async def test_an_admin_sets_a_new_password_for_a_user_who_forgot_theirs(identity: IdentityHarness) -> None:
    admin_name, _, admin = await _session(identity, Role.ADMIN)
    agent, forgotten, session = await _session(identity, Role.SUPPORT)

    new_password = strong_password("handed-over")
    body = {"new_password": new_password}
    assert (await identity.client.put(f"{STAFF}/{agent}/password", json=body, headers=bearer(admin))).status_code == 204

    assert (await _me(identity, session)).status_code == 401
    assert (await _login(identity, agent, forgotten)).status_code == 401
    assert (await _login(identity, agent, new_password)).status_code == 201
    stream = await identity.runtime.uow.store.load(staff_stream(agent))
    changed = [e for e in stream.events if e.event_type == "PasswordChanged"]
    assert [(e.data["method"], e.data["sessions_revoked"], e.actor.id) for e in changed] == [
        ("set_by_admin", 1, admin_name)
    ]
    weak = await identity.client.put(
        f"{STAFF}/{agent}/password", json={"new_password": agent + "-password"}, headers=bearer(admin)
    )
    assert weak.status_code == 422


async def test_an_admin_cannot_lock_themselves_out(identity: IdentityHarness) -> None:
    me, _, admin = await _session(identity, Role.ADMIN)
    headers = bearer(admin)
    drop = await identity.client.put(f"{STAFF}/{me}/roles", json={"roles": ["support"]}, headers=headers)
    assert drop.status_code == 403
    assert drop.headers["content-type"] == "application/problem+json"
    leave = await identity.client.post(f"{STAFF}/{me}/deactivation", json={"reason": "oops"}, headers=headers)
    assert leave.status_code == 403
    own = await identity.client.put(f"{STAFF}/{me}/password", json={"new_password": strong_password()}, headers=headers)
    assert own.status_code == 403
    assert [t for t, _ in await _events(identity, me)] == ["StaffUserCreated"]
    # Adding a role to oneself is fine, and ends one's own sessions like any role change.
    more = await identity.client.put(f"{STAFF}/{me}/roles", json={"roles": ["admin", "support"]}, headers=headers)
    assert more.status_code == 200
    assert (await _me(identity, admin)).status_code == 401


async def test_roles_and_passwords_need_a_recent_login_deactivation_does_not(identity: IdentityHarness) -> None:
    _, _, admin = await _session(identity, Role.ADMIN)
    agent, _, _ = await _session(identity, Role.SUPPORT)
    # The services' clock says the admin's login was 11 minutes ago (the token still verifies:
    # verification goes by the real time).
    identity.clock.advance(timedelta(minutes=11))
    headers = bearer(admin)

    roles = await identity.client.put(f"{STAFF}/{agent}/roles", json={"roles": ["admin"]}, headers=headers)
    assert roles.status_code == 403
    assert roles.json()["title"] == "Recent login required"
    password = await identity.client.put(
        f"{STAFF}/{agent}/password", json={"new_password": strong_password()}, headers=headers
    )
    assert password.status_code == 403
    gone = await identity.client.post(f"{STAFF}/{agent}/deactivation", json={"reason": "left"}, headers=headers)
    assert gone.status_code == 200
    identity.clock.advance(timedelta(minutes=-11))


async def test_only_admins_and_only_real_users(identity: IdentityHarness) -> None:
    _, _, admin = await _session(identity, Role.ADMIN)
    agent, _, support = await _session(identity, Role.SUPPORT)
    for method, path, body in [
        ("GET", f"{STAFF}/{agent}", None),
        ("PUT", f"{STAFF}/{agent}/roles", {"roles": ["admin"]}),
        ("PUT", f"{STAFF}/{agent}/password", {"new_password": strong_password()}),
        ("POST", f"{STAFF}/{agent}/deactivation", {"reason": "x"}),
    ]:
        forbidden = await identity.client.request(method, path, json=body, headers=bearer(support))
        assert forbidden.status_code == 403, (path, forbidden.text)
        unknown = await identity.client.request(
            method, path.replace(agent, "nobody-here"), json=body, headers=bearer(admin)
        )
        assert unknown.status_code == 404, (path, unknown.text)
        malformed = await identity.client.request(
            method, path.replace(agent, "NOT%20A%20NAME"), json=body, headers=bearer(admin)
        )
        assert malformed.status_code == 422, (path, malformed.text)
        assert (await identity.client.request(method, path, json=body)).status_code == 401
    empty = await identity.client.put(f"{STAFF}/{agent}/roles", json={"roles": []}, headers=bearer(admin))
    assert empty.status_code == 422
    customer_role = await identity.client.put(
        f"{STAFF}/{agent}/roles", json={"roles": ["customer"]}, headers=bearer(admin)
    )
    assert customer_role.status_code == 422
    assert (await identity.client.get(f"{STAFF}/{agent}", headers=bearer(admin))).json()["roles"] == ["support"]


async def test_admins_and_compliance_page_through_the_staff(identity: IdentityHarness) -> None:
    admin_name, _, admin = await _session(identity, Role.ADMIN)
    auditor_name, _, auditor = await _session(identity, Role.COMPLIANCE)
    agent, _, _ = await _session(identity, Role.SUPPORT)
    gone = await identity.client.post(f"{STAFF}/{agent}/deactivation", json={"reason": "left"}, headers=bearer(admin))
    assert gone.status_code == 200

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await identity.client.get(STAFF, params=params, headers=bearer(auditor))
        assert page.status_code == 200, page.text
        assert len(page.json()["items"]) <= 2
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    names = [u["username"] for u in seen]
    assert names == sorted(names)
    assert set(names) == {admin_name, auditor_name, agent}
    assert {u["username"]: u["active"] for u in seen}[agent] is False
    assert {u["username"]: u["roles"] for u in seen}[auditor_name] == ["compliance"]

    assert (await identity.client.get(STAFF, headers=bearer(admin))).status_code == 200
    assert (await identity.client.get(f"{STAFF}/{agent}", headers=bearer(auditor))).status_code == 200
    fresh_support = (await _session(identity, Role.SUPPORT))[2]
    assert (await identity.client.get(STAFF, headers=bearer(fresh_support))).status_code == 403
    assert (await identity.client.get(STAFF, params={"cursor": "NOT A NAME"}, headers=bearer(admin))).status_code == 422
    assert (await identity.client.get(STAFF, params={"limit": 0}, headers=bearer(admin))).status_code == 422
    # Compliance reads; it does not change anything.
    changed = await identity.client.put(
        f"{STAFF}/{admin_name}/roles", json={"roles": ["admin"]}, headers=bearer(auditor)
    )
    assert changed.status_code == 403
