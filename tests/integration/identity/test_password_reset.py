"""Password reset by one-time password, end to end through HTTP and a real SMTP server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from services.identity.domain.events import account_stream
from shared.auth import Role
from tests.integration.identity.harness import (
    IdentityHarness,
    bearer,
    body_of,
    code_in,
    new_customer_number,
    strong_password,
)

pytestmark = pytest.mark.integration

OTP_SUBJECT = "Your one-time password"
NOTICE_SUBJECT = "Your password was changed"


async def test_whole_reset_flow_through_http(identity: IdentityHarness) -> None:
    admin = await identity.staff_headers(Role.ADMIN)
    number = new_customer_number()
    email = f"flow-{number}@example.org"
    opened = await identity.client.post(
        "/api/identity/v1/customers",
        json={"customer_number": number, "name": "Ada Lovelace", "reference_email": email},
        headers=admin,
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["password_set"] is False

    requested = await identity.client.post("/api/identity/v1/password-resets", json={"customer_number": number})
    assert requested.status_code == 202
    mail = await identity.next_mail(email, 0, OTP_SUBJECT)
    text = body_of(mail)
    code = code_in(mail)
    assert code not in mail["Subject"]
    assert "https://portal.test/password?customer=" + number in text
    assert code.replace("-", "") not in text.split("https://")[1]  # the link carries no code
    assert len(code.replace("-", "")) >= 8

    # Typed in lower case and without the hyphen: still the same code.
    new_password = strong_password("first")
    confirmed = await identity.confirm(number, code.replace("-", "").lower(), new_password)
    assert confirmed.status_code == 204, confirmed.text
    notice = await identity.next_mail(email, 0, NOTICE_SUBJECT)
    assert new_password not in body_of(notice)

    login = await identity.login(number, new_password)
    assert login.status_code == 201, login.text
    session = login.json()

    # A second reset ends the session that is open now, and the notice mail follows again.
    second_password = strong_password("second")
    await identity.set_password(number, email, second_password)
    await identity.next_mail(email, 1, NOTICE_SUBJECT)
    me = await identity.client.get("/api/identity/v1/me", headers=bearer(session))
    assert me.status_code == 401
    refreshed = await identity.client.post(
        "/api/identity/v1/sessions/refresh", json={"refresh_token": session["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert (await identity.login(number, new_password)).status_code == 401
    assert (await identity.login(number, second_password)).status_code == 201

    stream = await identity.runtime.uow.store.load(account_stream(number))
    assert [e.event_type for e in stream.events] == [
        "CustomerAccountOpened",
        "PasswordResetRequested",
        "PasswordChanged",
        "PasswordResetRequested",
        "PasswordChanged",
    ]
    assert stream.events[-1].data["sessions_revoked"] == 1


async def test_code_expires_after_ten_minutes(identity: IdentityHarness) -> None:
    number, email = await identity.open_account()
    code = await identity.request_code(number, email)
    identity.clock.advance(timedelta(minutes=10))
    expired = await identity.confirm(number, code, strong_password())
    assert expired.status_code == 422
    assert expired.json()["title"] == "One-time password not accepted"

    code = await identity.request_code(number, email)
    identity.clock.advance(timedelta(minutes=9, seconds=59))
    assert (await identity.confirm(number, code, strong_password())).status_code == 204


async def test_code_is_used_once_when_twenty_confirmations_race(identity: IdentityHarness) -> None:
    number, email = await identity.open_account()
    code = await identity.request_code(number, email)
    candidates = [strong_password(f"racer{i}") for i in range(20)]
    responses = await asyncio.gather(*(identity.confirm(number, code, pw) for pw in candidates))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [204] + [422] * 19
    [winner] = [pw for pw, r in zip(candidates, responses, strict=True) if r.status_code == 204]
    assert (await identity.login(number, winner)).status_code == 201
    assert (await identity.confirm(number, code, strong_password())).status_code == 422
    attempts = await identity.runtime.pool.fetchval(
        "SELECT attempts FROM one_time_passwords WHERE customer_number = $1", number
    )
    assert attempts <= 5


async def test_code_dies_after_five_wrong_tries(identity: IdentityHarness) -> None:
    number, email = await identity.open_account()
    code = await identity.request_code(number, email)
    wrong = "22222-22222" if code != "22222-22222" else "33333-33333"
    for _ in range(5):
        assert (await identity.confirm(number, wrong, strong_password())).status_code == 422
    assert (await identity.confirm(number, code, strong_password())).status_code == 422


async def test_wrong_tries_are_counted_exactly_when_they_race(identity: IdentityHarness) -> None:
    number, email = await identity.open_account()
    code = await identity.request_code(number, email)
    wrong = "22222-22222" if code != "22222-22222" else "33333-33333"
    responses = await asyncio.gather(*(identity.confirm(number, wrong, strong_password()) for _ in range(20)))
    assert {r.status_code for r in responses} == {422}
    attempts = await identity.runtime.pool.fetchval(
        "SELECT attempts FROM one_time_passwords WHERE customer_number = $1", number
    )
    assert attempts == 5
    assert (await identity.confirm(number, code, strong_password())).status_code == 422


async def test_a_new_request_invalidates_the_previous_code(identity: IdentityHarness) -> None:
    number, email = await identity.open_account()
    first = await identity.request_code(number, email)
    second = await identity.request_code(number, email)
    assert first != second
    assert (await identity.confirm(number, first, strong_password())).status_code == 422
    assert (await identity.confirm(number, second, strong_password())).status_code == 204


async def test_unknown_account_gets_the_same_202_and_no_mail(identity: IdentityHarness) -> None:
    number, email = await identity.open_account()
    unknown = new_customer_number()
    mails_before = len(identity.sink.messages)
    for_unknown = await identity.client.post("/api/identity/v1/password-resets", json={"customer_number": unknown})
    for_known = await identity.client.post("/api/identity/v1/password-resets", json={"customer_number": number})
    assert for_unknown.status_code == for_known.status_code == 202
    assert for_unknown.content == for_known.content
    await identity.next_mail(email, 0, OTP_SUBJECT)
    # The known account's mail has arrived (it was requested later): the unknown one got none.
    assert len(identity.sink.messages) == mails_before + 1
    assert (await identity.runtime.uow.store.load(account_stream(unknown))).version == 0
    confirm_unknown = await identity.confirm(unknown, "22222-22222", strong_password())
    assert confirm_unknown.status_code == 422


async def test_weak_new_password_is_refused_without_spending_the_code(identity: IdentityHarness) -> None:
    number, email = await identity.open_account(email=f"ada.{uuid.uuid4().hex[:8]}@example.org")
    code = await identity.request_code(number, email)
    cases = {
        "too_short": "short-pw",
        "common": "Password123456",
        "subject": f"my-number-is-{number}!",
        "email": f"{email}-is-mine",
    }
    for rule, password in cases.items():
        refused = await identity.confirm(number, code, password)
        assert refused.status_code == 422, rule
        assert refused.json()["rule"] == rule
        assert password not in refused.text
    # 128 characters of any script are fine.
    assert (await identity.confirm(number, code, "ж" * 43 + "語" * 43 + "ü" * 42)).status_code == 204


async def test_mail_bombing_one_account_stops_after_five_codes_an_hour(identity: IdentityHarness) -> None:
    number, email = await identity.open_account()
    for _ in range(5):
        await identity.request_code(number, email)
    sixth = await identity.client.post("/api/identity/v1/password-resets", json={"customer_number": number})
    assert sixth.status_code == 202
    identity.clock.advance(timedelta(hours=1))
    await identity.request_code(number, email)
    otp_mails = [m for m in identity.mails_to(email) if m["Subject"] == OTP_SUBJECT]
    assert len(otp_mails) == 6
