"""Support acting on behalf of a contact, decided on billing's own copy of contacts.events."""

from __future__ import annotations

import time

import pytest

from tests.integration.billing.conftest import BillingEnv, new_customer

pytestmark = pytest.mark.integration

ADDRESS = {"recipient": "Acme GmbH", "street": "Hauptstr. 1", "postcode": "10115", "city": "Berlin", "country": "DE"}


async def test_a_grant_allows_support_and_the_revocation_refuses_once_billing_has_consumed_it(
    env: BillingEnv,
) -> None:
    n = await env.open_account(new_customer())
    ada, _ = await env.add_contact(n, "ada@example.org", phone="030 1234567")
    env.tick()
    grant_id, granted_version = await env.grant(n, ada, ["billing:manage"])
    await env.billing_knows(n, granted_version)
    env.tick()

    on_behalf = {"on_behalf_of": {"contact_id": ada}, "ticket_reference": "T-100"}
    r = await env.put(n, "billing-address", {**ADDRESS, **on_behalf}, env.support("sam"), version=0)
    assert r.status_code == 200, r.text
    decision = r.json()["decision"]
    assert decision["basis"] == "contact_grant"
    assert decision["outcome"] == "allowed"
    assert decision["requested_by"] == f"contact:{ada}"
    assert decision["grant_id"] == grant_id
    assert [x["code"] for x in decision["reasons"]] == ["granted", "no_official_instruction"]
    # The API names the version of the authorization copy it decided on: contacts' own answer.
    assert decision["authorization_version"]["stream_version"] == granted_version
    assert decision["authorization_version"]["stream_id"] == f"customer-contacts-{n}"

    # The same contact, recognised by the phone number as support heard it.
    by_phone = {"email": "ada-invoices@example.org", "on_behalf_of": {"phone": "+49 (30) 123-4567"}}
    r = await env.put(n, "invoice-email", by_phone, env.support("sam"), version=0)
    assert r.json()["decision"]["requested_by"] == f"contact:{ada}"
    assert r.json()["decision"]["grant_id"] == grant_id

    env.tick()
    started = time.monotonic()
    revoked_version = await env.revoke(n, grant_id, "moved to another department")
    await env.billing_knows(n, revoked_version)
    propagation = time.monotonic() - started
    assert propagation < 10, propagation

    r = await env.put(n, "billing-address", {**ADDRESS, "city": "Potsdam", **on_behalf}, env.support("sam"))
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    refusal = r.json()
    assert refusal["outcome"] == "denied"
    assert [x["code"] for x in refusal["reasons"]] == ["revoked", "no_official_instruction"]
    assert refusal["reasons"][0]["grant_id"] == grant_id
    assert "moved to another department" in refusal["reasons"][0]["message"]
    assert refusal["authorization_version"]["stream_version"] == revoked_version
    assert refusal["contact_id"] == ada
    # Nothing changed; the refusal was recorded.
    current = await env.billing.get(env.url(n, "billing-address"), headers=env.owner(n))
    assert current.json()["address"]["city"] == "Berlin"
    store = env.billing_app.state.runtime.store
    [refused] = (await store.load(f"billing-refusals-{n}")).events
    assert refused.event_type == "SupportRequestRefused"
    assert str(refused.event_id) == refusal["refusal_id"]
    assert dict(refused.data) == {
        "customer_number": n,
        "agent": "staff:sam",
        "on_behalf_of": f"contact_id:{ada}",
        "action": "billing:manage",
        "reasons": ["revoked", "no_official_instruction"],
        "operation": "change_billing_address",
        "contact_id": ada,
    }
    assert refused.metadata["authorization_version"]["stream_version"] == revoked_version
    assert refused.metadata["ticket_reference"] == "T-100"

    # The owner still may; the history shows every change and the refusal with its basis.
    env.tick()
    r = await env.put(n, "billing-address", {**ADDRESS, "city": "Potsdam", "postcode": "14467"}, env.owner(n))
    assert r.status_code == 200
    entries = (await env.history(n))["entries"]
    assert [(e["kind"], e["basis"], e["outcome"]) for e in entries] == [
        ("billing_address_changed", "contact_grant", "allowed"),
        ("invoice_email_changed", "contact_grant", "allowed"),
        ("support_request_refused", None, "denied"),
        ("billing_address_changed", "portal_account_owner", None),
    ]
    first = entries[0]
    assert first["actor"] == "staff:sam"
    assert first["requested_by"] == f"contact:{ada}"
    assert first["on_behalf_of"] == f"contact_id:{ada}"
    assert first["grant_id"] == grant_id
    assert first["authorization_version"] == granted_version
    assert first["details"]["city"] == "Berlin"
    assert entries[1]["on_behalf_of"] == "phone:+49301234567"
    assert entries[2]["actor"] == "staff:sam"
    assert entries[2]["authorization_version"] == revoked_version
    assert entries[3]["actor"] == f"customer:{n}"

    # Pages of one entry walk the same list.
    walked, cursor = [], None
    while True:
        page = await env.history(n, limit=1, **({"cursor": cursor} if cursor else {}))
        walked += page["entries"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert walked == entries
    bad = await env.billing.get(env.url(n, "billing-history"), params={"cursor": "bm9wZQ"}, headers=env.owner(n))
    assert bad.status_code == 422


async def test_best_knowledge_without_an_official_instruction_and_refusal_with_one(env: BillingEnv) -> None:
    n = await env.open_account(new_customer())
    bob, _ = await env.add_contact(n, "bob@example.org")
    _, version = await env.grant(n, bob, ["dns:change"])
    await env.billing_knows(n, version)
    env.tick()

    # Someone billing has never heard of: served to best knowledge, and recorded as such.
    stranger = {"email": "boss@example.org", "on_behalf_of": {"email": " Boss@Example.org "}}
    r = await env.put(n, "invoice-email", stranger, env.support("sam"), version=0)
    assert r.status_code == 200, r.text
    decision = r.json()["decision"]
    assert decision["basis"] == "best_knowledge"
    assert decision["outcome"] == "best_knowledge"
    assert decision["requested_by"] == "email:boss@example.org"
    assert decision["grant_id"] is None
    assert [x["code"] for x in decision["reasons"]] == ["no_such_person", "no_official_instruction"]
    assert decision["authorization_version"]["stream_version"] == version
    # A known contact without billing:manage: best knowledge too, and named.
    r = await env.put(
        n, "invoice-email", {"email": "bob@example.org", "on_behalf_of": {"email": "bob@example.org"}}, env.support()
    )
    assert r.json()["decision"]["basis"] == "best_knowledge"
    assert r.json()["decision"]["requested_by"] == f"contact:{bob}"
    event = (await env.billing_app.state.runtime.store.load(f"invoice-email-{n}")).events[0]
    assert event.data["basis"] == "best_knowledge"
    assert event.metadata["on_behalf_of_as_heard"] == "Boss@Example.org"

    # With an official instruction in force, only granted contacts may.
    env.tick()
    strict_version = await env.issue_instruction(n, "SCAN-2026-42")
    await env.billing_knows(n, strict_version)
    env.tick()
    for who, codes in (
        ({"email": "boss@example.org"}, ["no_such_person", "official_instruction_in_force"]),
        ({"contact_id": bob}, ["not_granted", "official_instruction_in_force"]),
    ):
        r = await env.put(n, "invoice-email", {"email": "x@example.org", "on_behalf_of": who}, env.support())
        assert r.status_code == 403, r.text
        assert [x["code"] for x in r.json()["reasons"]] == codes
        assert r.json()["reasons"][-1]["document_reference"] == "SCAN-2026-42"
        assert r.json()["authorization_version"]["stream_version"] == strict_version
    assert (await env.billing.get(env.url(n, "invoice-email"), headers=env.owner(n))).json()["email"] == (
        "bob@example.org"
    )
    refusals = [e for e in (await env.history(n))["entries"] if e["kind"] == "support_request_refused"]
    assert [e["on_behalf_of"] for e in refusals] == ["email:boss@example.org", f"contact_id:{bob}"]


async def test_support_carries_out_the_owners_written_instruction(env: BillingEnv) -> None:
    n = await env.open_account(new_customer())
    strict_version = await env.issue_instruction(n, "SCAN-2026-7")  # strict: no requester would do
    await env.billing_knows(n, strict_version)
    env.tick()
    letter = {**ADDRESS, "city": "Leipzig", "written_instruction": " LETTER-2026-0815 ", "ticket_reference": "T-9"}
    r = await env.put(n, "billing-address", letter, env.support("sam"), version=0)
    assert r.status_code == 200, r.text
    decision = r.json()["decision"]
    assert decision["basis"] == "written_instruction"
    assert decision["requested_by"] == f"customer:{n}"
    assert decision["document_reference"] == "LETTER-2026-0815"
    assert decision["outcome"] is None  # the owner's own authority: nothing to decide on a copy
    assert decision["on_behalf_of"] is None
    event = (await env.billing_app.state.runtime.store.load(f"billing-address-{n}")).events[0]
    assert str(event.actor) == "staff:sam"
    assert event.data["basis"] == "written_instruction"
    assert event.data["requested_by"] == f"customer:{n}"
    assert event.metadata["document_reference"] == "LETTER-2026-0815"
    assert event.metadata["ticket_reference"] == "T-9"
    [entry] = [e for e in (await env.history(n))["entries"] if e["kind"] == "billing_address_changed"]
    assert (entry["basis"], entry["actor"], entry["requested_by"]) == (
        "written_instruction",
        "staff:sam",
        f"customer:{n}",
    )

    # Not both at once, not blank, and not for the owner (who acts in the portal itself).
    both = {**letter, "on_behalf_of": {"email": "boss@example.org"}}
    for body, headers in (
        (both, env.support()),
        ({**letter, "written_instruction": "  "}, env.support()),
        (letter, env.owner(n)),
    ):
        r = await env.put(n, "billing-address", body, headers)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await env.billing.get(env.url(n, "billing-address"), headers=env.owner(n))).json()["version"] == 1
