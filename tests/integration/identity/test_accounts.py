"""Customer accounts and staff users through the API: who may do what, and the recent-login rule."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.identity.domain.events import STAFF_CUSTOMER_NUMBER, account_stream, staff_stream
from shared.auth import Role
from shared.content_tags import content_tag
from tests.integration.identity.harness import IdentityHarness, bearer, new_customer_number, strong_password

pytestmark = pytest.mark.integration

CUSTOMERS = "/api/identity/v1/customers"


async def test_admin_opens_accounts_and_nobody_else_does(identity: IdentityHarness) -> None:
    admin = await identity.staff_headers(Role.ADMIN)
    support = await identity.staff_headers(Role.SUPPORT)
    number = new_customer_number()
    body = {"customer_number": number, "name": " Ada Lovelace ", "reference_email": "Ada@Example.ORG"}

    assert (await identity.client.post(CUSTOMERS, json=body)).status_code == 401
    assert (await identity.client.post(CUSTOMERS, json=body, headers=support)).status_code == 403
    opened = await identity.client.post(CUSTOMERS, json=body, headers=admin)
    assert opened.status_code == 201, opened.text
    assert opened.headers["location"] == f"{CUSTOMERS}/{number}"
    assert opened.json() == {
        "customer_number": number,
        "name": "Ada Lovelace",
        "reference_email": "ada@example.org",
        "password_set": False,
        "etag": content_tag("ada@example.org", "0"),
    }
    again = await identity.client.post(CUSTOMERS, json=body, headers=admin)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"

    [event] = (await identity.runtime.uow.store.load(account_stream(number))).events
    assert event.event_type == "CustomerAccountOpened"
    assert event.customer_number == number
    assert dict(event.data) == {"customer_number": number, "name": "Ada Lovelace", "reference_email": "ada@example.org"}
    assert event.actor.kind.value == "staff"


async def test_who_may_read_an_account(identity: IdentityHarness) -> None:
    number, email, password = await identity.customer_with_password()
    other, _, other_password = await identity.customer_with_password()
    tokens = (await identity.login(number, password)).json()
    other_tokens = (await identity.login(other, other_password)).json()

    own = await identity.client.get(f"{CUSTOMERS}/{number}", headers=bearer(tokens))
    assert own.status_code == 200
    assert own.json()["reference_email"] == email
    assert own.json()["password_set"] is True
    # Another customer's account does not exist as far as a customer can tell.
    assert (await identity.client.get(f"{CUSTOMERS}/{number}", headers=bearer(other_tokens))).status_code == 404
    for role in (Role.SUPPORT, Role.COMPLIANCE, Role.ADMIN):
        staff = await identity.staff_headers(role)
        assert (await identity.client.get(f"{CUSTOMERS}/{number}", headers=staff)).status_code == 200
    admin = await identity.staff_headers(Role.ADMIN)
    assert (await identity.client.get(f"{CUSTOMERS}/{new_customer_number()}", headers=admin)).status_code == 404


async def test_changing_the_reference_email_needs_a_recent_login(identity: IdentityHarness) -> None:
    number, email, password = await identity.customer_with_password()
    tokens = (await identity.login(number, password)).json()
    path = f"{CUSTOMERS}/{number}/reference-email"

    read = await identity.client.get(f"{CUSTOMERS}/{number}", headers=bearer(tokens))
    assert read.headers["etag"] == read.json()["etag"]
    changed = await identity.client.put(
        path, json={"reference_email": "new@example.org"}, headers={**bearer(tokens), "If-Match": read.headers["etag"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["reference_email"] == "new@example.org"
    assert changed.headers["etag"] == changed.json()["etag"] != read.headers["etag"]
    # A second writer who read before that change gets 409, not the last word.
    late = await identity.client.put(
        path, json={"reference_email": "late@example.org"}, headers={**bearer(tokens), "If-Match": read.headers["etag"]}
    )
    assert (late.status_code, late.json()["title"]) == (409, "Reference e-mail changed meanwhile"), late.text

    identity.clock.advance(timedelta(minutes=11))
    stale = await identity.client.put(path, json={"reference_email": "newer@example.org"}, headers=bearer(tokens))
    assert stale.status_code == 403
    assert stale.json()["title"] == "Recent login required"
    assert stale.json()["max_age"] == 600
    # Back to the present: tokens minted by a clock in the future would not verify yet.
    identity.clock.advance(timedelta(minutes=-11))

    compliance = await identity.staff_headers(Role.COMPLIANCE)
    assert (
        await identity.client.put(path, json={"reference_email": "x@example.org"}, headers=compliance)
    ).status_code == 403
    support = await identity.staff_headers(Role.SUPPORT)
    by_support = await identity.client.put(path, json={"reference_email": "support-set@example.org"}, headers=support)
    assert by_support.status_code == 200

    events = (await identity.runtime.uow.store.load(account_stream(number))).events
    changes = [e for e in events if e.event_type == "ReferenceEmailChanged"]
    assert [(e.data["previous_email"], e.data["reference_email"]) for e in changes] == [
        (email, "new@example.org"),
        ("new@example.org", "support-set@example.org"),
    ]
    assert changes[0].actor.kind.value == "customer"
    assert changes[1].actor.kind.value == "staff"
    # One-time passwords now go to the new address, and one mailed to the old address is void.
    old_code = await identity.request_code(number, "support-set@example.org")
    moved = await identity.client.put(path, json={"reference_email": "moved@example.org"}, headers=support)
    assert moved.status_code == 200, moved.text
    refused = await identity.confirm(number, old_code, strong_password("old-mailbox"))
    assert refused.status_code == 422, refused.text
    # The address one-time passwords went to is told, with the new one masked.
    notice = await identity.next_mail("support-set@example.org", 0, "Your reference e-mail address was changed")
    text = notice.get_content()
    assert "by our support staff" in text
    assert "m***@example.org" in text
    assert "moved@example.org" not in text
    first = await identity.next_mail(email, 0, "Your reference e-mail address was changed")
    assert "in a logged-in session" in first.get_content()
    await identity.set_password(number, "moved@example.org", strong_password("new-mailbox"))


async def test_admin_creates_staff_who_log_in_with_their_roles(identity: IdentityHarness) -> None:
    admin = await identity.staff_headers(Role.ADMIN)
    password = strong_password("auditor")
    created = await identity.client.post(
        "/api/identity/v1/staff-users",
        json={
            "username": "auditor.jane",
            "display_name": "Jane Auditor",
            "roles": ["compliance", "support"],
            "initial_password": password,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["roles"] == ["compliance", "support"]
    weak = await identity.client.post(
        "/api/identity/v1/staff-users",
        json={"username": "weak.joe", "display_name": "Joe", "roles": ["support"], "initial_password": "qwertyuiop123"},
        headers=admin,
    )
    assert weak.status_code == 422
    customer_role = await identity.client.post(
        "/api/identity/v1/staff-users",
        json={"username": "cust.joe", "display_name": "Joe", "roles": ["customer"], "initial_password": password},
        headers=admin,
    )
    assert customer_role.status_code == 422
    # A session whose login lies back further than 10 minutes (kept alive by refreshing) mints no
    # staff user: its roles and a password it chose would hand them over.
    identity.clock.advance(timedelta(minutes=11))
    stale = await identity.client.post(
        "/api/identity/v1/staff-users",
        json={"username": "stale.admin", "display_name": "X", "roles": ["admin"], "initial_password": password},
        headers=admin,
    )
    identity.clock.advance(timedelta(minutes=-11))
    assert (stale.status_code, stale.json()["title"]) == (403, "Recent login required"), stale.text

    login = await identity.client.post(
        "/api/identity/v1/staff-sessions", json={"username": "auditor.jane", "password": password}
    )
    assert login.status_code == 201, login.text
    principal = await identity.runtime.signer.verifier().verify(login.json()["access_token"])
    assert principal.roles == frozenset({Role.COMPLIANCE, Role.SUPPORT})
    assert principal.actor.kind.value == "staff"
    # A staff name is no customer number, and customer login does not know staff.
    wrong_door = await identity.client.post(
        "/api/identity/v1/staff-sessions", json={"username": "auditor.jane", "password": "wrong-password-here"}
    )
    assert wrong_door.status_code == 401

    [event] = (await identity.runtime.uow.store.load(staff_stream("auditor.jane"))).events
    assert event.event_type == "StaffUserCreated"
    assert event.customer_number == STAFF_CUSTOMER_NUMBER
    assert dict(event.data) == {
        "username": "auditor.jane",
        "display_name": "Jane Auditor",
        "roles": ["compliance", "support"],
    }
