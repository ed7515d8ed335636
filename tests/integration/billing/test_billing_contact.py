"""The billing contact: one of the customer's contact persons (contacts'), named in billing and
shown with their details from billing's copy of contacts.events. Real PostgreSQL and Kafka."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.billing.conftest import BillingEnv, new_customer

pytestmark = pytest.mark.integration

PATH = "billing-contact"


async def test_the_owner_names_a_current_contact_and_sees_their_details(env: BillingEnv) -> None:
    n = await env.open_account(new_customer())
    empty = await env.billing.get(env.url(n, PATH), headers=env.owner(n))
    assert empty.status_code == 200, empty.text
    assert (empty.json()["contact"], empty.json()["version"], empty.headers["etag"]) == (None, 0, '"0"')

    ada, added = await env.add_contact(n, "ada@example.org", phone="030 1234567", function="accounting")
    await env.billing_knows(n, added)
    r = await env.put(n, PATH, {"contact_id": ada}, env.owner(n), version=0)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["changed"], body["version"], r.headers["etag"]) == (True, 1, '"1"')
    assert body["decision"]["basis"] == "portal_account_owner"
    contact = body["contact"]
    assert (contact["contact_id"], contact["name"], contact["email"]) == (ada, "Ada", "ada@example.org")
    assert (contact["function"], contact["left_at"]) == ("accounting", None)
    assert contact["phone"]

    again = await env.put(n, PATH, {"contact_id": ada}, env.owner(n), version=1)
    assert (again.status_code, again.json()["changed"], again.json()["version"]) == (200, False, 1)
    stale = await env.put(n, PATH, {"contact_id": None}, env.owner(n), version=0)
    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("application/problem+json")

    cleared = await env.put(n, PATH, {"contact_id": None}, env.owner(n), version=1)
    assert (cleared.status_code, cleared.json()["contact"], cleared.json()["version"]) == (200, None, 2)

    history = await env.history(n)
    changes = [e for e in history["entries"] if e["kind"] == "billing_contact_changed"]
    assert [(e["details"]["contact_id"], e["details"]["previous_contact_id"]) for e in changes] == [
        (ada, None),
        (None, ada),
    ]
    assert {e["basis"] for e in changes} == {"portal_account_owner"}


async def test_only_a_current_contact_of_this_customer_can_be_named(env: BillingEnv) -> None:
    n, other = await env.open_account(new_customer()), await env.open_account(new_customer())
    theirs, their_version = await env.add_contact(other, "bob@example.org")
    await env.billing_knows(other, their_version)
    for contact_id in (str(uuid.uuid4()), theirs):  # unknown; another customer's contact
        r = await env.put(n, PATH, {"contact_id": contact_id}, env.owner(n), version=0)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == "contact_id"
    assert (await env.billing.get(env.url(n, PATH), headers=env.owner(n))).json()["version"] == 0

    # A contact who leaves stays named (what happened), shown as gone; they cannot be named again.
    eve, added = await env.add_contact(n, "eve@example.org")
    await env.billing_knows(n, added)
    assert (await env.put(n, PATH, {"contact_id": eve}, env.owner(n), version=0)).status_code == 200
    env.tick()
    left = await env.contacts.post(
        env.contacts_url(n, f"contacts/{eve}/departure"), json={"note": "moved on"}, headers=env.owner(n)
    )
    assert left.status_code in (200, 201), left.text
    await env.billing_knows(n, int(left.json()["version"]))
    shown = (await env.billing.get(env.url(n, PATH), headers=env.owner(n))).json()["contact"]
    assert shown["contact_id"] == eve
    assert shown["left_at"] is not None
    assert (await env.put(n, PATH, {"contact_id": None}, env.owner(n), version=1)).status_code == 200
    r = await env.put(n, PATH, {"contact_id": eve}, env.owner(n), version=2)
    assert r.status_code == 422
    assert "left the customer" in r.json()["detail"]


async def test_support_names_one_on_behalf_of_a_contact_allowed_to_manage_billing(env: BillingEnv) -> None:
    n = await env.open_account(new_customer())
    ada, _ = await env.add_contact(n, "ada@example.org")
    env.tick()
    grant_id, granted = await env.grant(n, ada, ["billing:manage"])
    bob, _ = await env.add_contact(n, "bob@example.org")
    env.tick()
    instructed = await env.issue_instruction(n, "letter-2026-11-27")
    await env.billing_knows(n, max(granted, instructed))
    env.tick()

    allowed = await env.put(
        n, PATH, {"contact_id": bob, "on_behalf_of": {"contact_id": ada}}, env.support("sam"), version=0
    )
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["decision"]["grant_id"] == grant_id
    assert allowed.json()["contact"]["email"] == "bob@example.org"

    refused = await env.put(
        n, PATH, {"contact_id": ada, "on_behalf_of": {"contact_id": bob}}, env.support("sam"), version=1
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["outcome"] == "denied"
    history = await env.history(n)
    kinds = [(e["kind"], e["details"].get("operation")) for e in history["entries"]]
    assert ("support_request_refused", "change_billing_contact") in kinds

    without = await env.put(n, PATH, {"contact_id": None}, env.support("sam"), version=1)
    assert without.status_code == 422  # support names on whose behalf it acts
    elsewhere = await env.open_account(new_customer())
    assert (await env.billing.get(env.url(n, PATH), headers=env.owner(elsewhere))).status_code == 404
