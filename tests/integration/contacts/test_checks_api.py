"""The authorization check, "as of T", the history, and the personnel change, over HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.auth.principal import Role
from tests.integration.contacts.conftest import ContactsEnv

# Every test here runs against both readers of the check: the in-process copy and the tables.
pytestmark = [pytest.mark.integration, pytest.mark.parametrize("env", ["memory", "sql"], indirect=True)]


async def test_allowed_expired_revoked_and_never_granted_are_told_apart(env: ContactsEnv) -> None:
    n = await env.customer()
    ada = await env.add_contact(n, "ada@example.org", phone="030 1234567")
    bob = await env.add_contact(n, "bob@example.org")
    start = env.tick()
    short = await env.grant(n, ada, ["credentials:request"], valid_until=(start + timedelta(hours=1)).isoformat())
    dns = await env.grant(n, bob, ["dns:change"], note="until the relaunch")
    env.tick()

    allowed = await env.check(n, {"phone": "+49 (30) 123-4567"}, "credentials:request", ticket_reference="T-1")
    assert allowed["outcome"] == "allowed"
    assert allowed["grant_id"] == short
    assert allowed["check_id"]

    env.tick(120)
    expired = await env.check(n, {"contact_id": ada}, "credentials:request")
    assert expired["outcome"] == "denied"
    assert expired["reasons"][0]["code"] == "expired"
    never = await env.check(n, {"contact_id": ada}, "orders:place")
    assert never["outcome"] == "best_knowledge"
    assert [r["code"] for r in never["reasons"]] == ["not_granted", "no_official_instruction"]

    r = await env.client.post(
        env.url(n, f"/authorizations/{dns}/revocation"), json={"reason": "relaunch done"}, headers=env.support("sam")
    )
    assert r.status_code == 200, r.text
    env.tick()
    revoked = await env.check(n, {"email": "BOB@example.org"}, "dns:change")
    assert revoked["outcome"] == "denied"
    assert revoked["reasons"][0]["code"] == "revoked"
    assert revoked["reasons"][0]["by"] == "staff:sam"
    assert "relaunch done" in revoked["reasons"][0]["message"]

    # As of a moment when the grant still held, the same question is allowed.
    back_then = await env.check(
        n, {"email": "bob@example.org"}, "dns:change", at=(start + timedelta(minutes=30)).isoformat()
    )
    assert back_then["outcome"] == "allowed"
    future = await env.client.post(
        env.url(n, "/authorization-checks"),
        json={
            "requester": {"contact_id": bob},
            "action": "dns:change",
            "at": (env.clock.now() + timedelta(days=1)).isoformat(),
        },
        headers=env.support(),
    )
    assert future.status_code == 422


async def test_official_instruction_turns_best_knowledge_into_denied(env: ContactsEnv) -> None:
    n = await env.customer()
    ada = await env.add_contact(n, "ada@example.org")
    await env.grant(n, ada, ["contracts:view"])
    env.tick()
    stranger = {"email": "stranger@example.org"}
    assert (await env.check(n, stranger, "contracts:view"))["outcome"] == "best_knowledge"
    before = env.tick()
    r = await env.client.put(
        env.url(n, "/official-instruction"), json={"document_reference": "SCAN-2026-17"}, headers=env.owner(n)
    )
    assert r.status_code == 200, r.text
    env.tick()
    strict = await env.check(n, stranger, "contracts:view")
    assert strict["outcome"] == "denied"
    assert [c["code"] for c in strict["reasons"]] == ["no_such_person", "official_instruction_in_force"]
    assert strict["reasons"][-1]["document_reference"] == "SCAN-2026-17"
    assert (await env.check(n, {"contact_id": ada}, "contracts:view"))["outcome"] == "allowed"
    assert (await env.check(n, stranger, "contracts:view", at=(before - timedelta(seconds=1)).isoformat()))[
        "outcome"
    ] == "best_knowledge"
    state = await env.client.get(env.url(n, "/official-instruction"), headers=env.owner(n))
    assert state.json()["in_force"] is True
    r = await env.client.post(
        env.url(n, "/official-instruction/withdrawal"), json={"reason": "ended"}, headers=env.owner(n)
    )
    assert r.status_code == 200
    env.tick()
    assert (await env.check(n, stranger, "contracts:view"))["outcome"] == "best_knowledge"


async def test_contact_left_revokes_everything_at_once_and_tells_the_owner(env: ContactsEnv, kafka: str) -> None:
    n = await env.customer()
    ada = await env.add_contact(n, "ada@example.org", name="Ada Lovelace")
    grants = {await env.grant(n, ada, ["dns:change"]), await env.grant(n, ada, ["all"])}
    env.tick()
    assert (await env.check(n, {"contact_id": ada}, "services:cancel"))["outcome"] == "allowed"
    left_at = env.tick()
    r = await env.client.post(
        env.url(n, f"/contacts/{ada}/departure"), json={"note": "HR: left 30.11."}, headers=env.support("sam")
    )
    assert r.status_code == 200, r.text
    assert set(r.json()["revoked_grants"]) == grants
    env.tick()
    after = await env.check(n, {"email": "ada@example.org"}, "dns:change")
    assert after["outcome"] == "denied"
    # Both grants covered DNS ("all" does too): each is named with its revocation.
    codes = [x["code"] for x in after["reasons"]]
    assert codes == ["contact_removed", "revoked", "revoked", "no_official_instruction"]
    assert "left_organisation" in after["reasons"][0]["message"]
    # Every revocation happened at the same instant, in one transaction.
    history = (await env.client.get(env.url(n, "/authorization-history"), headers=env.owner(n))).json()["entries"]
    revocations = [e for e in history if e["kind"] == "authorization_revoked"]
    assert len(revocations) == 2
    assert {e["at"] for e in revocations} == {left_at.isoformat().replace("+00:00", "Z")}

    mail = await env.sink.wait_for(lambda m: m["To"] == f"owner-{n}@acme.example", timeout=30)
    assert "Ada Lovelace" in mail["Subject"]
    assert "2 authorization(s)" in mail.get_content()


async def test_checks_by_support_are_recorded_and_the_history_pages_through_everything(env: ContactsEnv) -> None:
    n = await env.customer()
    ada = await env.add_contact(n, "ada@example.org")
    start = env.tick()
    await env.grant(n, ada, ["mailboxes:manage"], valid_until=(start + timedelta(minutes=10)).isoformat())
    env.tick()
    await env.check(n, {"contact_id": ada}, "mailboxes:manage", ticket_reference="TCK-99")
    by_customer = await env.check(n, {"contact_id": ada}, "mailboxes:manage", headers=env.owner(n))
    assert by_customer["check_id"] is None  # the customer's own look-ups are not recorded
    env.tick(30)
    await env.caught_up()

    seen: list[dict[str, Any]] = []
    cursor = None
    compliance = env.issuer.staff("cora", Role.COMPLIANCE)
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await env.client.get(env.url(n, "/authorization-history"), params=params, headers=compliance)
        page = r.json()
        seen += page["entries"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    kinds = [e["kind"] for e in seen]
    assert kinds == ["contact_added", "authorized", "authorization_checked", "authorization_expired"]
    check = seen[2]
    assert check["recorded_by"] == "staff:sam"
    assert check["details"]["ticket_reference"] == "TCK-99"
    assert check["details"]["outcome"] == "allowed"


async def test_as_of_lists_who_held_which_scopes(env: ContactsEnv) -> None:
    n = await env.customer()
    ada = await env.add_contact(n, "ada@example.org")
    bob = await env.add_contact(n, "bob@example.org")
    t1 = env.tick()
    g1 = await env.grant(n, ada, ["dns:change", "contracts:view"])
    t2 = env.tick()
    await env.grant(n, bob, ["all"])
    await env.client.post(env.url(n, f"/authorizations/{g1}/revocation"), json={"reason": "x"}, headers=env.owner(n))
    t3 = env.tick()
    await env.caught_up()

    async def holders(at: object) -> dict[str, list[str]]:
        r = await env.client.get(env.url(n, "/authorizations"), params={"at": str(at)}, headers=env.owner(n))
        assert r.status_code == 200, r.text
        return {h["contact_id"]: h["scopes"] for h in r.json()["holders"]}

    assert await holders((t1 - timedelta(seconds=1)).isoformat()) == {}
    assert await holders(t1.isoformat()) == {ada: ["contracts:view", "dns:change"]}
    assert await holders(t3.isoformat()) == {bob: ["all"]}
    assert (await holders((t2 - timedelta(seconds=1)).isoformat())) == {ada: ["contracts:view", "dns:change"]}
    naive = await env.client.get(
        env.url(n, "/authorizations"), params={"at": "2026-11-27T09:00:00"}, headers=env.owner(n)
    )
    assert naive.status_code == 422


async def test_a_caller_from_abroad_is_found_by_the_number_they_dial_at_home(env: ContactsEnv) -> None:
    n = await env.customer()
    vienna = await env.add_contact(n, "vera@agentur.at", phone="+43 664 1234567", organisation="Agentur Wien")
    await env.grant(n, vienna, ["dns:change"])

    heard = {"phone": "0664 123 45 67"}  # as an Austrian gives it: read here as +49 664 …
    by_support = await env.check(n, heard, "dns:change")
    by_owner = await env.check(n, heard, "dns:change", headers=env.owner(n))  # (contacts' hot route)
    for answer in (by_support, by_owner):
        assert answer["outcome"] == "allowed"
        assert answer["contact_id"] == vienna
    found = await env.client.get(env.url(n, "/contacts"), params=heard, headers=env.support())
    assert [c["contact_id"] for c in found.json()["contacts"]] == [vienna]

    # Someone who holds the German reading itself is the one meant.
    fulda = await env.add_contact(n, "fritz@example.de", phone="0664 1234567")
    env.tick()
    assert (await env.check(n, heard, "dns:change"))["contact_id"] == fulda
    found = await env.client.get(env.url(n, "/contacts"), params=heard, headers=env.support())
    assert [c["contact_id"] for c in found.json()["contacts"]] == [fulda]


async def test_an_austrian_customers_contact_is_stored_with_austrias_country_code(env: ContactsEnv) -> None:
    n = await env.customer()
    address = {"company": "Agentur GmbH", "street": "Ring 1", "postcode": "1010", "city": "Wien", "country": "AT"}
    put = await env.client.put(env.url(n, "/address"), json=address, headers={**env.owner(n), "If-Match": '"0"'})
    assert put.status_code == 200, put.text
    vera = await env.add_contact(n, "vera@agentur.at", phone="0664 1234567")  # typed as at home
    await env.caught_up()
    stored = await env.client.get(env.url(n, f"/contacts/{vera}"), headers=env.owner(n))
    assert stored.json()["phone_e164"] == "+436641234567"
    await env.grant(n, vera, ["dns:change"])
    for heard in ("+43 664 1234567", "0043 664 1234567", "0664 1234567"):  # caller id, or as she says it
        assert (await env.check(n, {"phone": heard}, "dns:change"))["contact_id"] == vera, heard
