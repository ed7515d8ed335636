"""Contact persons, address and who may act, over HTTP through the real service."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
import pytest

from shared.auth.principal import Role
from tests.integration.contacts.conftest import ContactsEnv, new_customer

pytestmark = pytest.mark.integration


async def test_add_find_by_what_support_hears_change_and_remove(env: ContactsEnv) -> None:
    n = await env.customer()
    ada = await env.add_contact(n, "Ada@Example.org", phone="+49 (30) 123-4567", function="CTO")
    eve = await env.add_contact(
        n, "eve@agency.example", organisation="Pixel Agency", organisation_kind="contractor", phone="0171 5550123"
    )
    await env.caught_up()
    heard = await env.client.get(env.url(n, "/contacts"), params={"phone": "0049 30 1234567"}, headers=env.support())
    assert heard.status_code == 200, heard.text
    assert [c["contact_id"] for c in heard.json()["contacts"]] == [ada]
    by_mail = await env.client.get(env.url(n, "/contacts"), params={"email": "ADA@example.ORG"}, headers=env.owner(n))
    assert [c["contact_id"] for c in by_mail.json()["contacts"]] == [ada]

    changed = await env.client.put(
        env.url(n, f"/contacts/{ada}"),
        json={"name": "Ada Lovelace", "email": "ada@example.org", "phone": "030 7654321", "function": "CEO"},
        headers=env.owner(n),
    )
    assert changed.status_code == 200, changed.text
    await env.caught_up()
    one = (await env.client.get(env.url(n, f"/contacts/{ada}"), headers=env.owner(n))).json()
    assert (one["name"], one["phone_e164"], one["function"]) == ("Ada Lovelace", "+49307654321", "CEO")
    old_phone = await env.client.get(env.url(n, "/contacts"), params={"phone": "030 1234567"}, headers=env.owner(n))
    assert old_phone.json()["contacts"] == []

    removed = await env.client.delete(env.url(n, f"/contacts/{eve}"), headers=env.owner(n))
    assert removed.status_code == 200, removed.text
    await env.caught_up()
    listed = await env.client.get(env.url(n, "/contacts"), headers=env.owner(n))
    assert [c["contact_id"] for c in listed.json()["contacts"]] == [ada]
    again = await env.client.delete(env.url(n, f"/contacts/{eve}"), headers=env.owner(n))
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_a_change_naming_the_details_read_does_not_overwrite_a_change_made_meanwhile(env: ContactsEnv) -> None:
    n = await env.customer()
    ada = await env.add_contact(n, "ada@example.org", phone="030 1234567")
    await env.caught_up()
    url = env.url(n, f"/contacts/{ada}")
    read = await env.client.get(url, headers=env.owner(n))
    tag = read.headers["etag"]
    assert read.json()["etag"] == tag
    listed = await env.client.get(env.url(n, "/contacts"), headers=env.owner(n))
    assert [c["etag"] for c in listed.json()["contacts"]] == [tag]

    # The owner fixes the phone, support (reading at the same time) the function: both send all details.
    owner_change = {"name": "Ada", "email": "ada@example.org", "phone": "030 7654321"}
    support_change = {"name": "Ada", "email": "ada@example.org", "phone": "030 1234567", "function": "CTO"}
    first = await env.client.put(url, json=owner_change, headers={**env.owner(n), "If-Match": tag})
    assert first.status_code == 200, first.text
    assert first.headers["etag"] != tag
    late = await env.client.put(url, json=support_change, headers={**env.owner(n), "If-Match": tag})
    assert late.status_code == 409, late.text
    assert late.json()["title"] == "Contact changed meanwhile"
    await env.caught_up()
    now = await env.client.get(url, headers=env.owner(n))
    assert (now.json()["phone"], now.json()["function"]) == ("030 7654321", None)  # the owner's change stands
    assert now.headers["etag"] == first.headers["etag"]
    # Read again, the change goes through; weak and unquoted forms of the tag are the same tag.
    again = await env.client.put(
        url,
        json={**support_change, "phone": "030 7654321"},
        headers={**env.owner(n), "If-Match": f"W/{now.headers['etag']}"},
    )
    assert again.status_code == 200, again.text
    # Without If-Match a change is taken as before (the last one wins); `*` asks only that it exists.
    assert (await env.client.put(url, json=owner_change, headers=env.owner(n))).status_code == 200
    star = await env.client.put(url, json=support_change, headers={**env.owner(n), "If-Match": "*"})
    assert star.status_code == 200, star.text
    # A list of tags: the change goes on when one of them is the contact's current one.
    current = star.headers["etag"]
    stale = f"{tag}, {first.headers['etag']}"
    listed_stale = await env.client.put(url, json=owner_change, headers={**env.owner(n), "If-Match": stale})
    assert listed_stale.status_code == 409, listed_stale.text
    listed_current = await env.client.put(
        url, json=owner_change, headers={**env.owner(n), "If-Match": f"{tag}, {current}"}
    )
    assert listed_current.status_code == 200, listed_current.text


async def test_every_route_needs_a_token_and_customers_see_only_themselves(env: ContactsEnv) -> None:
    a, b = await env.customer(), await env.customer()
    b_contact = await env.add_contact(b, "bob@b.example")
    grant = await env.grant(b, b_contact, ["all"])
    await env.caught_up()
    assert (await env.client.get(env.url(a, "/contacts"))).status_code == 401
    a_token = env.owner(a)
    probes = [
        ("GET", "/contacts", None),
        ("GET", f"/contacts/{b_contact}", None),
        ("POST", "/contacts", {"name": "X", "email": "x@b.example"}),
        ("PUT", f"/contacts/{b_contact}", {"name": "X", "email": "x@b.example"}),
        ("DELETE", f"/contacts/{b_contact}", None),
        ("POST", f"/contacts/{b_contact}/departure", {}),
        ("POST", f"/contacts/{b_contact}/authorizations", {"scopes": ["all"]}),
        ("POST", f"/authorizations/{grant}/revocation", {"reason": "x"}),
        ("GET", "/authorizations", None),
        ("GET", "/authorization-history", None),
        ("GET", "/official-instruction", None),
        ("PUT", "/official-instruction", {"document_reference": "D"}),
        ("POST", "/authorization-checks", {"requester": {"contact_id": b_contact}, "action": "all"}),
        ("GET", "/address", None),
        ("PUT", "/address", {"company": "A", "street": "S 1", "postcode": "10115", "city": "B", "country": "DE"}),
    ]
    for method, path, body in probes:
        r = await env.client.request(method, env.url(b, path), json=body, headers=a_token)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert "b.example" not in r.text
    # Customer A asking about B's contact in A's own space learns nothing either.
    own = await env.check(a, {"contact_id": b_contact}, "all", headers=a_token)
    assert own["outcome"] == "best_knowledge"
    assert own["reasons"][0]["code"] == "no_such_person"
    # Compliance may read, not write.
    compliance = env.issuer.staff("cora", Role.COMPLIANCE)
    assert (await env.client.get(env.url(b, "/authorizations"), headers=compliance)).status_code == 200
    denied = await env.client.post(
        env.url(b, "/contacts"), json={"name": "X", "email": "x@b.example"}, headers=compliance
    )
    assert denied.status_code == 403


async def test_address_with_optimistic_concurrency(env: ContactsEnv) -> None:
    n = await env.customer()
    empty = await env.client.get(env.url(n, "/address"), headers=env.owner(n))
    assert empty.status_code == 200
    assert empty.json()["version"] == 0
    assert empty.headers["etag"] == '"0"'
    body = {"company": "Acme GmbH", "street": "Hauptstr. 1", "postcode": "10115", "city": "Berlin", "country": "de"}
    missing = await env.client.put(env.url(n, "/address"), json=body, headers=env.owner(n))
    assert missing.status_code == 422
    first = await env.client.put(env.url(n, "/address"), json=body, headers={**env.owner(n), "If-Match": '"0"'})
    assert first.status_code == 200, first.text
    assert first.json()["country"] == "DE"
    assert first.headers["etag"] == '"1"'
    stale = await env.client.put(
        env.url(n, "/address"),
        json={**body, "city": "Potsdam", "postcode": "14467"},
        headers={**env.owner(n), "If-Match": '"0"'},
    )
    assert stale.status_code == 409
    by_field = await env.client.put(
        env.url(n, "/address"),
        json={**body, "city": "Potsdam", "postcode": "14467", "version": 1},
        headers=env.support(),
    )
    assert by_field.status_code == 200, by_field.text
    assert by_field.json()["version"] == 2
    invalid = await env.client.put(
        env.url(n, "/address"), json={**body, "postcode": "1", "version": 2}, headers=env.owner(n)
    )
    assert invalid.status_code == 422
    read = await env.client.get(env.url(n, "/address"), headers=env.owner(n))
    assert (read.json()["city"], read.json()["version"]) == ("Potsdam", 2)


async def test_a_managing_contact_acts_through_support_within_its_own_scopes(env: ContactsEnv) -> None:
    n = await env.customer()
    lead = await env.add_contact(n, "lead@agency.example", organisation="Agency", organisation_kind="contractor")
    dev = await env.add_contact(n, "dev@agency.example", organisation="Agency", organisation_kind="contractor")
    await env.grant(n, lead, ["contacts:manage", "dns:change", "contracts:view"])
    env.tick()
    via_lead = {"on_behalf_of": lead}
    ok = await env.client.post(
        env.url(n, f"/contacts/{dev}/authorizations"),
        json={"scopes": ["dns:change"], **via_lead},
        headers=env.support(),
    )
    assert ok.status_code == 201, ok.text
    too_much = await env.client.post(
        env.url(n, f"/contacts/{dev}/authorizations"),
        json={"scopes": ["dns:change", "services:cancel"], **via_lead},
        headers=env.support(),
    )
    assert too_much.status_code == 403
    assert "services:cancel" in too_much.json()["detail"]
    # The dev holds no contacts:manage, so it cannot act for others.
    refused = await env.client.post(
        env.url(n, "/contacts"),
        json={"name": "X", "email": "x@agency.example", "on_behalf_of": dev},
        headers=env.support(),
    )
    assert refused.status_code == 403
    # A customer token does not act on behalf of anybody: it is the owner.
    odd = await env.client.post(
        env.url(n, "/contacts"),
        json={"name": "X", "email": "x@agency.example", "on_behalf_of": lead},
        headers=env.owner(n),
    )
    assert odd.status_code == 422
    result = await env.check(n, {"email": "dev@agency.example"}, "dns:change")
    assert result["outcome"] == "allowed"
    granted = result["reasons"][0]["grant"]
    assert (granted["granted_by"], granted["basis"]) == (f"contact:{lead}", "contact_request_via_support")


async def test_a_managing_contact_cannot_take_over_a_contact_holding_more(env: ContactsEnv) -> None:
    n = await env.customer()
    lead = await env.add_contact(n, "lead@agency.example")
    ftp = await env.add_contact(n, "ftp@customer.example")
    await env.grant(n, lead, ["contacts:manage", "dns:change"])
    await env.grant(n, ftp, ["credentials:request"])
    env.tick()
    via_lead = {"on_behalf_of": lead}
    # A new e-mail would send the FTP credentials to whoever reads it.
    takeover = await env.client.put(
        env.url(n, f"/contacts/{ftp}"),
        json={"name": "FTP", "email": "attacker@evil.example", **via_lead},
        headers=env.support(),
    )
    assert takeover.status_code == 403, takeover.text
    assert takeover.headers["content-type"] == "application/problem+json"
    assert "credentials:request" in takeover.json()["detail"]
    departure = await env.client.post(env.url(n, f"/contacts/{ftp}/departure"), json=via_lead, headers=env.support())
    assert departure.status_code == 403, departure.text
    removal = await env.client.delete(env.url(n, f"/contacts/{ftp}"), params=via_lead, headers=env.support())
    assert removal.status_code == 403, removal.text
    # Nothing was written: the contact keeps its address and its grant.
    await env.caught_up()
    assert (await env.check(n, {"email": "ftp@customer.example"}, "credentials:request"))["outcome"] == "allowed"
    assert (await env.check(n, {"email": "attacker@evil.example"}, "credentials:request"))["outcome"] != "allowed"


async def test_a_grant_sent_twice_is_given_once_and_the_repeat_names_it(env: ContactsEnv) -> None:
    n = await env.customer()
    ada = await env.add_contact(n, "ada@example.org")
    body = {"scopes": ["dns:change", "contracts:view"], "note": "web agency"}
    first = await env.grant(n, ada, **body)  # type: ignore[arg-type]
    env.tick()
    again = await env.client.post(env.url(n, f"/contacts/{ada}/authorizations"), json=body, headers=env.owner(n))
    assert again.status_code == 409, again.text
    assert again.headers["content-type"] == "application/problem+json"
    assert (again.json()["title"], again.json()["grant_id"]) == ("Authorization already granted", first)
    # Support recording a written instruction for the same scopes is a grant of its own.
    assert await env.grant(n, ada, **body, headers=env.support())  # type: ignore[arg-type]
    await env.caught_up()
    held = await env.client.get(env.url(n, "/authorizations"), headers=env.owner(n))
    assert held.status_code == 200, held.text
    [holder] = held.json()["holders"]
    assert len(holder["grants"]) == 2, held.text


async def test_openapi_documents_every_route_with_its_problems(env: ContactsEnv) -> None:
    spec = (await env.client.get("/api/contacts/openapi.json")).json()
    check = spec["paths"]["/api/contacts/v1/customers/{customer_number}/authorization-checks"]["post"]
    assert {"200", "401", "403", "404", "422"} <= set(check["responses"])
    assert check["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/CheckResult")
    assert len([p for p in spec["paths"] if p.startswith("/api/contacts/v1/")]) >= 12


async def test_a_contact_is_found_at_once_after_it_was_added(env: ContactsEnv) -> None:
    # The read models lag the store by a moment; here their runner waits on its position row.
    n = await env.customer()
    await env.add_contact(n, "first@example.org")
    await env.caught_up()
    blocker = await asyncpg.connect(env.database_url)
    try:
        async with blocker.transaction():
            await blocker.execute("SELECT * FROM reader_positions FOR UPDATE")
            ada = await env.add_contact(n, "ada@example.org", phone="030 1234567")
            read = await env.client.get(env.url(n, f"/contacts/{ada}"), headers=env.owner(n))
            assert read.status_code == 200, read.text
            assert (read.json()["email"], read.json()["phone_e164"]) == ("ada@example.org", "+49301234567")
            changed = await env.client.put(
                env.url(n, f"/contacts/{ada}"),
                json={"name": "Ada L.", "email": "ada@example.org"},
                headers={**env.owner(n), "If-Match": read.headers["ETag"]},
            )
            assert changed.status_code == 200, changed.text
            removed = await env.client.delete(env.url(n, f"/contacts/{ada}"), headers=env.owner(n))
            assert removed.status_code in (200, 204), removed.text
            again = await env.client.get(env.url(n, f"/contacts/{ada}"), headers=env.owner(n))
            assert (again.json()["name"], again.json()["removed_reason"]) == ("Ada L.", "removed"), again.text
            assert again.json()["added_at"] == read.json()["added_at"]
    finally:
        await blocker.close()
    await env.caught_up()
    listed = await env.client.get(env.url(n, f"/contacts/{ada}"), headers=env.owner(n))
    projected = await env.app.state.runtime.pool.fetchrow(
        "SELECT added_at, removed_at FROM authz_contacts WHERE contact_id = $1", uuid.UUID(ada)
    )
    assert datetime.fromisoformat(listed.json()["added_at"]) == projected["added_at"]
    assert datetime.fromisoformat(listed.json()["removed_at"]) == projected["removed_at"]


async def test_staff_naming_a_customer_no_account_was_opened_for_get_404(env: ContactsEnv) -> None:
    never = new_customer()
    check = {"requester": {"email": "a@b.example"}, "action": "dns:change"}
    for method, path, body in (
        ("POST", "/authorization-checks", check),
        ("GET", "/contacts", None),
        ("POST", "/contacts", {"name": "Ghost", "email": "ghost@x.example"}),
        ("GET", "/authorization-history", None),
    ):
        r = await env.client.request(method, env.url(never, path), json=body, headers=env.support())
        assert r.status_code == 404, (method, path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"] == "no such customer"
    written = await env.app.state.runtime.pool.fetchval("SELECT count(*) FROM events WHERE customer_number = $1", never)
    assert written == 0
    # A customer's own token names an account identity opened, known here or not yet.
    assert await env.add_contact(never, "ada@example.org")
