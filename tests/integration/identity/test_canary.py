"""No secret ever leaves the identity database.

Canary passwords, the one-time passwords actually issued, the tokens handed out and the hashes
and keys stored are planted by running every flow that touches them (successes and failures
alike); then the event store (data and metadata of every event), everything on `identity.events`
read back from Kafka, the captured logs and every HTTP answer are searched for them.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import structlog

from shared.auth import Role
from shared.kafka import topic_for
from tests.integration.identity.harness import IdentityHarness, bearer
from tests.support.kafka import records_until

pytestmark = pytest.mark.integration


def _canary(label: str) -> str:
    return f"canary-{label}-{uuid.uuid4().hex}"


async def test_no_secret_reaches_events_kafka_logs_or_answers(
    identity: IdentityHarness, kafka: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets: set[str] = set()
    answers: list[httpx.Response] = []
    api = "/api/identity/v1"

    async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await identity.client.request(method, f"{api}{path}", **kwargs)
        answers.append(response)
        return response

    with structlog.testing.capture_logs() as logs:
        number, email = await identity.open_account(email="canary.owner@example.org")
        password = _canary("password")
        wrong_password = _canary("wrong")
        weak_attempt = f"{_canary('weak')}-canary.owner@example.org"
        staff_password = _canary("staff")
        changed_password = _canary("changed")
        admin_set_password = _canary("admin-set")
        own_staff_password = _canary("own-staff")
        secrets |= {password, wrong_password, weak_attempt, staff_password}
        secrets |= {changed_password, admin_set_password, own_staff_password}

        # A code that dies of wrong tries, a code replaced by the next, and one that is used.
        for _ in range(2):
            code = await identity.request_code(number, email)
            secrets |= {code, code.replace("-", "")}
        wrong_code = "ZZZZZ-ZZZZZ" if code != "ZZZZZ-ZZZZZ" else "YYYYY-YYYYY"
        secrets.add(wrong_code)
        confirm = {"customer_number": number, "one_time_password": wrong_code, "new_password": password}
        assert (await call("POST", "/password-resets/confirm", json=confirm)).status_code == 422
        confirm = {"customer_number": number, "one_time_password": code, "new_password": weak_attempt}
        assert (await call("POST", "/password-resets/confirm", json=confirm)).status_code == 422
        confirm = {"customer_number": number, "one_time_password": code, "new_password": password}
        assert (await call("POST", "/password-resets/confirm", json=confirm)).status_code == 204

        login = {"customer_number": number, "password": password}
        tokens = (await call("POST", "/sessions", json=login)).json()
        failed = {"customer_number": number, "password": wrong_password}
        assert (await call("POST", "/sessions", json=failed)).status_code == 401
        rotated = (await call("POST", "/sessions/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
        replay = {"refresh_token": tokens["refresh_token"]}
        assert (await call("POST", "/sessions/refresh", json=replay)).status_code == 401
        secrets |= {tokens["access_token"], tokens["refresh_token"], rotated["access_token"], rotated["refresh_token"]}
        # The own change: refused with a wrong current password, then done (the replay above ended
        # the session of `rotated`, so a new login).
        changer = (await call("POST", "/sessions", json=login)).json()
        secrets |= {changer["access_token"], changer["refresh_token"]}
        wrong_current = {"current_password": wrong_password, "new_password": changed_password}
        assert (await call("PUT", "/me/password", json=wrong_current, headers=bearer(changer))).status_code == 403
        own_change = {"current_password": password, "new_password": changed_password}
        assert (await call("PUT", "/me/password", json=own_change, headers=bearer(changer))).status_code == 204

        admin = await identity.staff_headers(Role.ADMIN)
        staff_user = {
            "username": "canary.staff",
            "display_name": "Canary",
            "roles": ["support"],
            "initial_password": staff_password,
        }
        assert (await call("POST", "/staff-users", json=staff_user, headers=admin)).status_code == 201
        staff_login = {"username": "canary.staff", "password": staff_password}
        staff_tokens = (await call("POST", "/staff-sessions", json=staff_login)).json()
        secrets |= {staff_tokens["access_token"], staff_tokens["refresh_token"]}
        assert (await call("GET", f"/customers/{number}", headers=bearer(staff_tokens))).status_code == 200
        for_logout = {"refresh_token": staff_tokens["refresh_token"]}
        assert (await call("POST", "/sessions/logout", json=for_logout)).status_code == 204
        # A new password set by an admin (who logged in just now), then changed by the user.
        set_by_admin = {"new_password": admin_set_password}
        assert (
            await call("PUT", "/staff-users/canary.staff/password", json=set_by_admin, headers=admin)
        ).status_code == 204
        staff_login = {"username": "canary.staff", "password": admin_set_password}
        staff_tokens = (await call("POST", "/staff-sessions", json=staff_login)).json()
        secrets |= {staff_tokens["access_token"], staff_tokens["refresh_token"]}
        own_staff = {"current_password": admin_set_password, "new_password": own_staff_password}
        assert (await call("PUT", "/me/password", json=own_staff, headers=bearer(staff_tokens))).status_code == 204
        for _ in range(7):  # into the throttle
            await call("POST", "/staff-sessions", json={"username": "canary.staff", "password": wrong_password})

        pool = identity.runtime.pool
        stored_secrets = [
            *(r["password_hash"] for r in await pool.fetch("SELECT password_hash FROM credentials")),
            *(r["code_hash"] for r in await pool.fetch("SELECT code_hash FROM one_time_passwords")),
            *(r["token_hash"].hex() for r in await pool.fetch("SELECT token_hash FROM refresh_tokens")),
            *(
                line
                for r in await pool.fetch("SELECT private_key FROM signing_keys WHERE private_key IS NOT NULL")
                for line in r["private_key"].splitlines()
                if "PRIVATE KEY" not in line
            ),
        ]
        secrets |= {s for s in stored_secrets if s}
        stored = await identity.runtime.uow.store.read_all()
        records = await records_until(kafka, topic_for("identity"), {str(e.event_id) for e in stored})

    assert {e.event_type for e in stored} >= {
        "CustomerAccountOpened",
        "PasswordResetRequested",
        "PasswordChanged",
        "LoginSucceeded",
        "LoginFailed",
        "AccountThrottled",
        "RefreshTokenReuseDetected",
        "SessionRevoked",
        "StaffUserCreated",
    }
    places: dict[str, str] = {
        "event store": "\n".join(
            r["data"] + r["metadata"] for r in await pool.fetch("SELECT data::text, metadata::text FROM events")
        ),
        "kafka": "\n".join(repr(r.key) + repr(r.value) + repr(r.headers) for r in records),
        "structlog": "\n".join(repr(entry) for entry in logs),
        "stdlib logs": caplog.text,
        "stdout": capsys.readouterr().out,
        "answers": "\n".join(r.text + repr(dict(r.headers)) for r in answers if r.status_code >= 400),
    }
    assert len(logs) > 20
    for place, text in places.items():
        leaked = [s[:24] for s in secrets if s in text]
        assert not leaked, f"secrets found in {place}: {leaked}"
        assert "$argon2" not in text, place
