"""Support acts on a requester's behalf only on authority, decided on domains' own read model.

Every operation is tried for a granted contact (allowed, and the events say on whose authority),
then again after the grant was revoked in contacts or has expired (refused, 403 with reasons,
recorded as SupportRequestRefused). Best knowledge, strict mode and the edges of who may act.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest

from services.domains.projections.authorization import CHANNEL
from services.domains.service import SPEC as DOMAINS
from shared.audit.rebuild import rebuild_service
from shared.auth.principal import Role
from shared.authorization.freshness import RUNTIME_KEY as COPY_FRESHNESS
from shared.scopes import Scope
from tests.integration.domains.conftest import Env, mailed_password

pytestmark = pytest.mark.integration

NEEDED = [
    Scope.PLACE_ORDERS,
    Scope.MANAGE_MAILBOXES,
    Scope.CHANGE_DNS,
    Scope.REQUEST_CREDENTIALS,
    Scope.VIEW_CONTRACTS,
    Scope.CANCEL_SERVICES,
]


async def every_operation(env: Env, n: str, domain: str, headers: dict[str, str]) -> dict[str, httpx.Response]:
    """Each operation once, in an order that succeeds when everything is allowed."""
    base = env.url(n, f"/domains/{domain}")
    tag = uuid.uuid4().hex[:8]
    vhost = f"m{tag}.{domain}"
    mailbox = {"local_part": "team", "owner_email": f"t{tag}@acme.example"}
    calls: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("register_domain", "POST", env.url(n, "/domains"), {"name": f"order-{tag}.de"}),
        ("create_vhost", "POST", f"{base}/vhosts", {"name": vhost}),
        ("create_mailbox", "POST", f"{base}/vhosts/{vhost}/mailboxes", mailbox),
        ("send_mailbox_password_link", "POST", f"{base}/vhosts/{vhost}/mailboxes/team/password-link", None),
        ("delete_mailbox", "DELETE", f"{base}/vhosts/{vhost}/mailboxes/team", None),
        ("delete_vhost", "DELETE", f"{base}/vhosts/{vhost}", None),
        ("set_redirect", "PUT", f"{base}/redirects/r{tag}.{domain}", {"target_url": "https://yx.de/"}),
        ("remove_redirect", "DELETE", f"{base}/redirects/r{tag}.{domain}", None),
        ("reissue_ftp_credentials", "POST", f"{base}/ftp-credentials", None),
        ("list_contracts", "GET", env.url(n, "/contracts"), None),
        ("show_domain", "GET", base, None),
        ("cancel_domain", "POST", env.url(n, f"/domains/order-{tag}.de/cancellation"), {}),
        ("withdraw_cancellation", "DELETE", env.url(n, f"/domains/order-{tag}.de/cancellation"), None),
    ]  # fmt: skip
    answers = {}
    for operation, method, path, body in calls:
        answers[operation] = await env.domains.request(method, path, json=body, headers=headers)
    return answers


async def domain_events(env: Env, n: str, since: int = 0) -> list[dict[str, Any]]:
    rows = await env.pool.fetch(
        "SELECT position, event_type, actor, data, metadata FROM events WHERE customer_number = $1 AND position > $2"
        " ORDER BY position",
        n,
        since,
    )
    return [{**dict(r), "data": _json(r["data"]), "metadata": _json(r["metadata"])} for r in rows]


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


async def test_a_granted_contact_may_until_the_grant_is_revoked(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    ada = await env.add_contact(n, f"ada-{n}@example.org", name="Ada Lovelace")
    grant = await env.grant(n, ada, [s.value for s in NEEDED])
    heard = env.support(f"email:ADA-{n}@Example.org")  # as support heard it

    allowed = await every_operation(env, n, domain, heard)
    for operation, answer in allowed.items():
        assert answer.status_code in (200, 201), (operation, answer.text)
    assert allowed["set_redirect"].json()["authorization"] == "allowed"
    assert allowed["set_redirect"].json()["grant_id"] == grant

    events = await domain_events(env, n)
    changes = [e for e in events if e["event_type"] not in ("ContractListProvided", "DomainRegistered")]
    assert {e["event_type"] for e in changes} >= {
        "VhostCreated",
        "MailboxCreated",
        "RedirectSet",
        "FtpCredentialsReissued",
        "DomainCancellationRequested",
        "DomainCancellationWithdrawn",
    }
    for event in [e for e in events if e["actor"] == "staff:sam"]:
        meta = event["metadata"]
        assert meta["acting"] == "support_on_behalf", event
        assert meta["on_behalf_of"] == f"email:ada-{n}@example.org"
        assert (meta["contact_id"], meta["grant_id"], meta["authorization"]) == (ada, grant, "allowed")
        # How far domains' copy was: contacts' stream of the customer, up to the grant (version 2)
        assert meta["authorization_version"] == {"stream_id": f"customer-contacts-{n}", "stream_version": 2}
    provided = [e for e in events if e["event_type"] == "ContractListProvided"]
    assert provided[0]["data"]["grant_id"] == grant

    # The credentials went to Ada's address on file, a notice without them to the owner.
    ftp = allowed["reissue_ftp_credentials"].json()
    assert (ftp["sent_to"], ftp["contact_id"], ftp["owner_notified"]) == ("requesting_contact", ada, True)
    password = mailed_password(await env.mail_to(f"ada-{n}@example.org", "New FTP credentials"))
    notice = await env.mail_to(f"owner-{n}@acme.example", "were reissued")
    assert password not in notice.as_string()
    assert f"ada-{n}@example.org" in notice.as_string()

    before = events[-1]["position"]
    await env.revoke(n, grant)
    refused = await every_operation(env, n, domain, heard)
    for operation, answer in refused.items():
        assert answer.status_code == 403, (operation, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert [r["code"] for r in problem["reasons"]] == ["revoked", "no_official_instruction"]
        assert grant in problem["reasons"][0]["message"]
    recorded = await domain_events(env, n, before)
    assert [e["event_type"] for e in recorded] == ["SupportRequestRefused"] * len(refused)
    assert [e["data"]["operation"] for e in recorded] == list(refused)
    first = recorded[0]["data"]
    assert first["customer_number"] == n
    assert first["agent"] == "staff:sam"
    assert first["on_behalf_of"] == f"email:ada-{n}@example.org"
    assert first["action"] == Scope.PLACE_ORDERS.value
    assert first["reasons"] == ["revoked", "no_official_instruction"]
    assert first["contact_id"] == ada
    assert {e["data"]["action"] for e in recorded} == {s.value for s in NEEDED}
    # Refused on a copy that had the revocation (version 3).
    assert {e["metadata"]["authorization_version"]["stream_version"] for e in recorded} == {3}


async def test_an_expired_grant_refuses_every_operation(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    phone = f"+49 30 {random.randint(1_000_000, 9_999_999)}"
    bob = await env.add_contact(n, f"bob-{n}@example.org", phone=phone)
    grant = await env.grant(n, bob, [s.value for s in NEEDED], valid_until=env.clock.now() + timedelta(hours=1))
    heard = env.support(f"phone:0049 (30) {phone[7:]}")

    r = await env.domains.put(
        env.url(n, f"/domains/{domain}/redirects/{domain}"), json={"target_url": "https://yx.de/"}, headers=heard
    )
    assert r.status_code == 200, r.text
    assert r.json()["grant_id"] == grant

    env.clock.advance(timedelta(hours=2))
    refused = await every_operation(env, n, domain, heard)
    for operation, answer in refused.items():
        assert answer.status_code == 403, (operation, answer.text)
        assert [x["code"] for x in answer.json()["reasons"]] == ["expired", "no_official_instruction"]


async def test_best_knowledge_without_an_official_instruction_and_strict_with_one(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    carol = await env.add_contact(n, f"carol-{n}@example.org")
    await env.grant(n, carol, [Scope.VIEW_CONTRACTS.value])  # a grant, but not for redirects
    redirect = env.url(n, f"/domains/{domain}/redirects/{domain}")
    body = {"target_url": "https://yx.de/"}

    stranger = env.support(f"email:stranger-{n}@example.org")
    r = await env.domains.put(redirect, json=body, headers=stranger)
    assert r.status_code == 200, r.text
    assert (r.json()["authorization"], r.json()["reasons"]) == (
        "best_knowledge",
        ["no_such_person", "no_official_instruction"],
    )
    r = await env.domains.put(
        redirect, json={"target_url": "https://zz.de/"}, headers=env.support(f"contact_id:{carol}")
    )
    assert r.status_code == 200, r.text
    assert r.json()["authorization"] == "best_knowledge"
    assert r.json()["reasons"][0] == "not_granted"
    [event] = [e for e in await domain_events(env, n) if e["data"].get("target_url") == "https://zz.de/"]
    assert event["metadata"]["authorization"] == "best_knowledge"
    assert event["metadata"]["grant_id"] is None

    # A secret is never sent on best knowledge: neither FTP credentials nor a mailbox's password
    # link, which a stranger would have sent to an address of theirs (creating or taking over it).
    r = await env.domains.post(env.url(n, f"/domains/{domain}/ftp-credentials"), headers=stranger)
    assert r.status_code == 403
    assert [x["code"] for x in r.json()["reasons"]] == ["grant_required", "no_such_person", "no_official_instruction"]
    vhost = await env.domains.post(env.url(n, f"/domains/{domain}/vhosts"), json={"name": domain}, headers=env.owner(n))
    assert vhost.status_code == 201, vhost.text
    mailboxes = env.url(n, f"/domains/{domain}/vhosts/{domain}/mailboxes")
    owner_made = await env.domains.post(
        mailboxes, json={"local_part": "ceo", "owner_email": f"ceo-{n}@acme.example"}, headers=env.owner(n)
    )
    assert owner_made.status_code == 201, owner_made.text
    for path, mailbox in (
        (f"{mailboxes}/ceo/password-link", {"owner_email": f"attacker-{n}@evil.example"}),
        (mailboxes, {"local_part": "support", "owner_email": f"attacker-{n}@evil.example"}),
    ):
        for asking in (stranger, env.support(f"contact_id:{carol}")):
            r = await env.domains.post(path, json=mailbox, headers=asking)
            assert r.status_code == 403, r.text
            assert r.json()["reasons"][0]["code"] == "grant_required"
    assert [m for m in list(env.sink.messages) if m["To"] == f"attacker-{n}@evil.example"] == []

    await env.issue_instruction(n)
    env.tick()
    r = await env.domains.put(redirect, json=body, headers=stranger)
    assert r.status_code == 403
    assert [x["code"] for x in r.json()["reasons"]] == ["no_such_person", "official_instruction_in_force"]
    r = await env.domains.get(env.url(n, "/contracts"), headers=env.support(f"contact_id:{carol}"))
    assert r.status_code == 200, r.text
    assert r.json()["authorization"] == "allowed"
    refusals = [e for e in await domain_events(env, n) if e["event_type"] == "SupportRequestRefused"]
    # (FTP credentials and the four password links, then the instruction)
    assert [e["data"]["reasons"][-1] for e in refusals] == [
        *["no_official_instruction"] * 5,
        "official_instruction_in_force",
    ]


async def test_who_may_act_at_all(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    redirect = env.url(n, f"/domains/{domain}/redirects/{domain}")
    body = {"target_url": "https://yx.de/"}
    r = await env.domains.put(redirect, json=body, headers=env.support())
    assert r.status_code == 422
    assert "On-Behalf-Of" in r.json()["detail"]
    for bad in ("ada@example.org", "fax:123", "email:", "contact_id:not-a-uuid", "phone:12", "email:no-at-sign"):
        r = await env.domains.put(redirect, json=body, headers=env.support(bad))
        assert r.status_code == 422, (bad, r.text)
    r = await env.domains.put(redirect, json=body, headers={**env.owner(n), "On-Behalf-Of": "email:a@b.de"})
    assert r.status_code == 422
    admin = env.issuer.staff("root", Role.ADMIN)
    assert (await env.domains.put(redirect, json=body, headers=admin)).status_code == 403
    compliance = env.issuer.staff("carl", Role.COMPLIANCE)
    assert (await env.domains.get(env.url(n, "/contracts"), headers=compliance)).status_code == 200
    assert (await env.domains.put(redirect, json=body, headers=compliance)).status_code == 403
    assert (await env.domains.get(env.url(n, "/contacts"), headers=env.support())).status_code == 200
    assert await env.pool.fetchval("SELECT count(*) FROM events WHERE customer_number = $1", n) == 1


async def test_the_kept_authorizations_let_go_of_a_customer_at_each_change(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    ada = await env.add_contact(n, f"ada-{n}@example.org")
    grant = await env.grant(n, ada, [Scope.CHANGE_DNS.value])
    kept = env.domains_app.state.runtime.extras["domains"].authorizations
    path = env.url(n, f"/domains/{domain}/redirects/www.{domain}")
    heard = env.support(f"contact_id:{ada}")

    for target in ("https://a.example/", "https://b.example/"):  # the second answered from memory
        answer = await env.domains.put(path, json={"target_url": target}, headers=heard)
        assert (answer.status_code, answer.json()["authorization"]) == (200, "allowed"), answer.text
        assert kept.holds(n)
    await env.revoke(n, grant)  # the change committed in domains' model, and notified
    assert not kept.holds(n)
    refused = await env.domains.put(path, json={"target_url": "https://c.example/"}, headers=heard)
    assert refused.status_code == 403, refused.text
    assert [r["code"] for r in refused.json()["reasons"]] == ["revoked", "no_official_instruction"]


async def test_a_replaced_copy_is_what_domains_decides_on_at_once(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    ada = await env.add_contact(n, f"ada-{n}@example.org")
    await env.grant(n, ada, [Scope.CHANGE_DNS.value])
    kept = env.domains_app.state.runtime.extras["domains"].authorizations
    path = env.url(n, f"/domains/{domain}/redirects/www.{domain}")
    heard = env.support(f"contact_id:{ada}")
    assert (await env.domains.put(path, json={"target_url": "https://a.example/"}, headers=heard)).status_code == 200

    # What a projection's bug would leave in domains' copy: the grant lost (and told to the API).
    await env.pool.execute("DELETE FROM authz_grants WHERE customer_number = $1", n)
    await env.pool.execute("SELECT pg_notify($1, $2)", CHANNEL, n)
    await kept.synced()
    damaged = await env.domains.put(path, json={"target_url": "https://b.example/"}, headers=heard)
    assert damaged.json()["reasons"] == ["not_granted", "no_official_instruction"], damaged.text
    assert kept.holds(n)  # (the damaged rows, kept in memory)

    results = await rebuild_service(DOMAINS, env.pool, env.kafka, settle_s=0, replace=True)
    replaced = [r.projection for r in results if r.replaced]
    assert replaced == ["authorization"], [(r.projection, r.report.diffs) for r in results]
    await kept.synced()
    assert not kept.holds(n)  # every API process let go of what it kept of the old rows
    answer = await env.domains.put(path, json={"target_url": "https://c.example/"}, headers=heard)
    assert (answer.status_code, answer.json()["authorization"]) == (200, "allowed"), answer.text
    assert all(r.identical for r in await rebuild_service(DOMAINS, env.pool, env.kafka, settle_s=0))


async def test_support_waits_while_domains_copy_lags_behind_contacts(env: Env) -> None:
    n = await env.customer()
    ada = await env.add_contact(n, "ada.lag@acme.example")
    await env.grant(n, ada, [Scope.VIEW_CONTRACTS.value])
    on_behalf = env.support(f"contact_id:{ada}")
    assert (await env.domains.get(env.url(n, "/contracts"), headers=on_behalf)).status_code == 200

    freshness = env.domains_app.state.runtime.extras[COPY_FRESHNESS]
    [consumer] = [c for c in env.domains_app.state.workers.consumers if c.projection.name == "authorization"]
    limit, freshness.max_lag_s = freshness.max_lag_s, 1.0  # (the default's 10 s, shortened for the test)
    try:
        async with consumer.processing:  # domains' copy stops applying contacts.events
            r = await env.contacts.post(
                f"/api/contacts/v1/customers/{n}/contacts",
                json={"name": "Bob", "email": "bob.lag@acme.example"},
                headers=env.owner(n),
            )
            assert r.status_code == 201, r.text
            deadline = asyncio.get_running_loop().time() + 20
            while (lag := freshness.lag_s()) is None or lag <= 1.0:
                assert asyncio.get_running_loop().time() < deadline, "domains never saw its copy lag"
                await asyncio.sleep(0.05)
            r = await env.domains.get(env.url(n, "/contracts"), headers=on_behalf)
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert "the domains service's copy of the authorizations is" in r.json()["detail"]
            assert "retry-after" in r.headers
            # The owner needs no copy.
            assert (await env.domains.get(env.url(n, "/contracts"), headers=env.owner(n))).status_code == 200
    finally:
        freshness.max_lag_s = limit
    await env.until("SELECT 1 FROM authz_contacts WHERE email = $1", "bob.lag@acme.example")
    assert (await env.domains.get(env.url(n, "/contracts"), headers=on_behalf)).status_code == 200


async def test_support_carries_out_the_owners_written_instruction(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    await env.issue_instruction(n)  # strict, and no contact at all: only the owner's own authority helps
    letter = env.support("written_instruction: LETTER-2026-0815 ")
    done = await every_operation(env, n, domain, letter)
    for operation, answer in done.items():
        assert answer.status_code in (200, 201), (operation, answer.text)
    assert done["set_redirect"].json()["authorization"] == "written_instruction"
    # The credentials the owner asked for in writing go to the owner, never to support.
    ftp = done["reissue_ftp_credentials"].json()
    assert ftp["sent_to"] == "account_owner"
    mailed_password(await env.mail_to(f"owner-{n}@acme.example", "New FTP credentials"))

    events = [e for e in await domain_events(env, n) if e["actor"] == "staff:sam"]
    assert len(events) >= len(done) - 1
    for event in events:
        meta = event["metadata"]
        assert (meta["acting"], meta["authorization"]) == ("written_instruction", "written_instruction"), event
        assert meta["document_reference"] == "LETTER-2026-0815"
        assert "on_behalf_of" not in meta
    provided = [e for e in events if e["event_type"] == "ContractListProvided"]
    assert provided[0]["data"]["on_behalf_of"] == f"customer:{n}"

    # A reference is needed, and the owner itself has no use for one.
    base = env.url(n, f"/domains/{domain}")
    blank = await env.domains.put(f"{base}/redirects/x.{domain}", json={"target_url": "https://yx.de/"},
                                  headers=env.support("written_instruction:  "))  # fmt: skip
    assert blank.status_code == 422, blank.text
    owner = {**env.owner(n), "On-Behalf-Of": "written_instruction:LETTER-1"}
    r = await env.domains.put(f"{base}/redirects/x.{domain}", json={"target_url": "https://yx.de/"}, headers=owner)
    assert r.status_code == 422, r.text
