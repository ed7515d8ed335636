"""The account owner manages domains, vhosts, mailboxes, redirects and FTP access over HTTP."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.integration.domains.conftest import Env, link_token, mailed_password

pytestmark = pytest.mark.integration


async def test_the_owner_books_everything_and_the_contract_list_shows_it(env: Env) -> None:
    n = await env.customer()
    owner = env.owner(n)
    r = await env.register(n, "Bücher-Shop.DE")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["domain"], body["unicode_name"], body["authorization"]) == (
        "xn--bcher-shop-9db.de",
        "bücher-shop.de",
        "account_owner",
    )
    assert r.headers["location"].endswith("/domains/xn--bcher-shop-9db.de")
    domain = body["domain"]
    base = env.url(n, f"/domains/{domain}")

    r = await env.domains.post(f"{base}/vhosts", json={"name": "bücher-shop.de"}, headers=owner)
    assert r.status_code == 201, r.text
    r = await env.domains.post(
        f"{base}/vhosts/{domain}/mailboxes",
        json={"local_part": "Info", "owner_email": "colleague@acme.example"},
        headers=owner,
    )
    assert r.status_code == 201, r.text
    mailbox = r.json()
    assert mailbox["address"] == f"info@{domain}"
    assert "token" not in r.text.lower()

    r = await env.domains.put(
        f"{base}/redirects/www.{domain}", json={"target_url": "https://yx.de/welcome"}, headers=owner
    )
    assert r.status_code == 200, r.text
    version = r.json()["version"]
    same = await env.domains.put(
        f"{base}/redirects/www.{domain}", json={"target_url": "https://YX.de/welcome"}, headers=owner
    )
    assert same.json()["version"] == version  # nothing new recorded
    # If-Match with the redirect's etag as read: a change made in between is not overwritten.
    [read] = (await env.domains.get(base, headers=owner)).json()["redirects"]
    redirect_url, moved = f"{base}/redirects/www.{domain}", {"target_url": "https://yx.de/moved"}
    r = await env.domains.put(redirect_url, json=moved, headers={**owner, "If-Match": read["etag"]})
    assert r.status_code == 200, r.text
    late = {"target_url": "https://yx.de/welcome", "permanent": False}
    r = await env.domains.put(redirect_url, json=late, headers={**owner, "If-Match": read["etag"]})
    assert (r.status_code, r.json()["title"]) == (409, "Changed meanwhile"), r.text
    [now] = (await env.domains.get(base, headers=owner)).json()["redirects"]
    assert (now["target_url"], now["permanent"]) == ("https://yx.de/moved", True)
    r = await env.domains.put(redirect_url, json={"target_url": "https://yx.de/welcome"}, headers=owner)
    assert r.status_code == 200, r.text  # without If-Match, as before
    # `If-Match: *`: change whatever redirect is there, but create none.
    r = await env.domains.put(redirect_url, json=moved, headers={**owner, "If-Match": "*"})
    assert r.status_code == 200, r.text
    [now] = (await env.domains.get(base, headers=owner)).json()["redirects"]
    assert now["target_url"] == "https://yx.de/moved"
    r = await env.domains.put(redirect_url, json={"target_url": "https://yx.de/welcome"}, headers=owner)
    assert r.status_code == 200, r.text
    r = await env.domains.put(f"{base}/redirects/shop.{domain}", json=moved, headers={**owner, "If-Match": "*"})
    assert (r.status_code, r.json()["title"]) == (409, "Changed meanwhile"), r.text

    r = await env.domains.post(f"{base}/ftp-credentials", headers=owner)
    assert r.status_code == 200, r.text
    assert (r.json()["sent_to"], r.json()["owner_notified"]) == ("account_owner", False)
    credentials = await env.mail_to(f"owner-{n}@acme.example", "New FTP credentials")
    password = mailed_password(credentials)
    assert password not in r.text
    stored = await env.pool.fetchval("SELECT password_hash FROM ftp_credentials WHERE domain = $1", domain)
    assert stored.startswith("$argon2id$")
    assert env.domains_app.state.runtime.extras["domains"].hasher.verify(stored, password)

    await env.contracts_caught_up()
    contracts = await env.domains.get(env.url(n, "/contracts"), headers=owner)
    assert contracts.status_code == 200, contracts.text
    [booked] = contracts.json()["domains"]
    assert booked["domain"] == domain
    assert booked["status"] == "active"
    assert [v["name"] for v in booked["vhosts"]] == [domain]
    assert booked["vhosts"][0]["mailboxes"][0]["address"] == f"info@{domain}"
    assert booked["vhosts"][0]["mailboxes"][0]["password_set"] is False
    [redirect] = booked["redirects"]
    assert (redirect["source_host"], redirect["target_url"], redirect["permanent"]) == (
        f"www.{domain}",
        "https://yx.de/welcome",
        True,
    )
    assert booked["ftp"]["username"] == domain
    assert booked["ftp"]["last_reissued_at"] is not None
    shown = await env.domains.get(base, headers=owner)
    assert shown.status_code == 200
    # The domain's GET reads its stream, the list its tables: the same domain, times included.
    assert shown.json() == booked

    # A removal names the redirect as read too: one changed since is not removed.
    # (`now` was read while the redirect pointed at /moved; it was set back to /welcome since)
    r = await env.domains.delete(f"{base}/redirects/www.{domain}", headers={**owner, "If-Match": now["etag"]})
    assert (r.status_code, r.json()["title"]) == (409, "Changed meanwhile"), r.text
    [current] = shown.json()["redirects"]
    r = await env.domains.delete(f"{base}/redirects/www.{domain}", headers={**owner, "If-Match": current["etag"]})
    assert r.status_code == 200, r.text
    r = await env.domains.delete(f"{base}/vhosts/{domain}", headers=owner)  # its mailbox goes with it
    assert r.status_code == 200, r.text
    r = await env.domains.post(f"{base}/cancellation", json={}, headers=owner)
    assert r.status_code == 200, r.text
    await env.contracts_caught_up()
    [booked] = (await env.domains.get(env.url(n, "/contracts"), headers=owner)).json()["domains"]
    assert booked["status"] == "cancellation_requested"
    assert booked["cancellation_effective_on"] == "2026-11-30"
    assert booked["vhosts"] == []
    assert booked["redirects"] == []

    # "We changed our minds": withdrawn before the last day, the domain runs on.
    withdrawn = await env.domains.delete(f"{base}/cancellation", headers=owner)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["version"] == r.json()["version"] + 1
    again = await env.domains.delete(f"{base}/cancellation", headers=owner)
    assert (again.status_code, again.json()["version"]) == (200, withdrawn.json()["version"])  # nothing pending
    await env.contracts_caught_up()
    [booked] = (await env.domains.get(env.url(n, "/contracts"), headers=owner)).json()["domains"]
    assert (booked["status"], booked["cancellation_effective_on"]) == ("active", None)
    assert (await env.domains.get(base, headers=owner)).json()["status"] == "active"


async def test_the_mailbox_owner_sets_the_password_once_through_the_link(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    base = env.url(n, f"/domains/{domain}")
    assert (await env.domains.post(f"{base}/vhosts", json={"name": domain}, headers=env.owner(n))).status_code == 201
    r = await env.domains.post(
        f"{base}/vhosts/{domain}/mailboxes",
        json={"local_part": "jane", "owner_email": f"jane-{n}@acme.example"},
        headers=env.owner(n),
    )
    assert r.status_code == 201, r.text
    mailbox_id = uuid.UUID(r.json()["mailbox_id"])
    token = link_token(await env.mail_to(f"jane-{n}@acme.example", "Set the password"))
    stored = await env.pool.fetchval("SELECT token_hash FROM mailbox_password_links WHERE mailbox_id = $1", mailbox_id)
    assert token.encode() not in stored  # only its hash

    password = "correct horse battery staple"
    bad = await env.domains.post(
        f"{API_PASSWORDS}", json={"token": token[:-2] + "xx", "password": password}, headers={}
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    short = await env.domains.post(API_PASSWORDS, json={"token": token, "password": "short"})
    assert short.status_code == 422
    ok = await env.domains.post(API_PASSWORDS, json={"token": token, "password": password})
    assert ok.status_code == 204, ok.text
    again = await env.domains.post(API_PASSWORDS, json={"token": token, "password": password + "!"})
    assert again.status_code == 422
    assert again.json()["detail"] == bad.json()["detail"]  # one answer for every cause
    hashed = await env.pool.fetchval("SELECT password_hash FROM mailbox_passwords WHERE mailbox_id = $1", mailbox_id)
    assert hashed.startswith("$argon2id$")
    assert env.domains_app.state.runtime.extras["domains"].hasher.verify(hashed, password)
    events = await env.pool.fetch(
        "SELECT event_type, actor, data::text FROM events WHERE stream_id = $1 ORDER BY stream_version",
        f"domain-{domain}",
    )
    assert (events[-1]["event_type"], events[-1]["actor"]) == ("MailboxPasswordSet", "system:mailbox-password-link")
    assert password not in events[-1]["data"]


async def test_an_expired_link_is_refused(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    base = env.url(n, f"/domains/{domain}")
    await env.domains.post(f"{base}/vhosts", json={"name": domain}, headers=env.owner(n))
    await env.domains.post(
        f"{base}/vhosts/{domain}/mailboxes",
        json={"local_part": "late", "owner_email": f"late-{n}@acme.example"},
        headers=env.owner(n),
    )
    token = link_token(await env.mail_to(f"late-{n}@acme.example"))
    env.clock.advance(timedelta(hours=49))
    try:
        r = await env.domains.post(API_PASSWORDS, json={"token": token, "password": "a long enough password"})
        assert r.status_code == 422
    finally:
        env.clock.advance(timedelta(hours=-49))


API_PASSWORDS = "/api/domains/v1/mailbox-passwords"


async def test_unknown_customers_and_other_tenants_see_nothing(env: Env) -> None:
    a, b = await env.customer(), await env.customer()
    domain = await env.registered(a)
    unknown = "12345678901"
    r = await env.register(unknown, "unknown-customer.de", headers=env.owner(unknown))
    assert r.status_code == 404
    r = await env.domains.get(env.url(unknown, "/contracts"), headers=env.support("email:x@example.org"))
    assert r.status_code == 404

    # B's token on A's number, and A's domain through B's number: 404, never 403.
    for method, path in [
        ("GET", env.url(a, "/contracts")),
        ("GET", env.url(a, f"/domains/{domain}")),
        ("POST", env.url(a, f"/domains/{domain}/ftp-credentials")),
        ("GET", env.url(a, "/contacts")),
    ]:
        r = await env.domains.request(method, path, headers=env.owner(b))
        assert r.status_code == 404, (path, r.text)
    for method, path, body in [
        ("GET", env.url(b, f"/domains/{domain}"), None),
        ("POST", env.url(b, f"/domains/{domain}/vhosts"), {"name": domain}),
        ("PUT", env.url(b, f"/domains/{domain}/redirects/{domain}"), {"target_url": "https://evil.example/"}),
        ("POST", env.url(b, f"/domains/{domain}/cancellation"), {}),
        ("POST", env.url(b, f"/domains/{domain}/ftp-credentials"), None),
    ]:
        r = await env.domains.request(method, path, json=body, headers=env.owner(b))
        assert r.status_code == 404, (path, r.text)
    taken = await env.register(b, domain)
    assert taken.status_code == 409
    assert (await env.domains.get(env.url(b, "/contracts"), headers=env.owner(b))).json()["domains"] == []
    assert (await env.domains.get(env.url(a, "/contracts"))).status_code == 401


async def test_a_new_password_link_replaces_the_lost_one_and_later_resets_the_password(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    base = env.url(n, f"/domains/{domain}")
    owner = env.owner(n)
    assert (await env.domains.post(f"{base}/vhosts", json={"name": domain}, headers=owner)).status_code == 201
    first_to, later_to = f"joe-{n}@acme.example", f"joe-new-{n}@acme.example"
    created = await env.domains.post(
        f"{base}/vhosts/{domain}/mailboxes", json={"local_part": "joe", "owner_email": first_to}, headers=owner
    )
    assert created.status_code == 201, created.text
    mailbox_id = uuid.UUID(created.json()["mailbox_id"])
    lost = link_token(await env.mail_to(first_to, "Set the password"))

    # The first mail got lost: a new link, to where the first went (no body needed).
    again = await env.domains.post(f"{base}/vhosts/{domain}/mailboxes/joe/password-link", headers=owner)
    assert again.status_code == 200, again.text
    assert (again.json()["mailbox_id"], again.json()["password_link_sent_to"]) == (str(mailbox_id), first_to)
    mails = [m for m in env.sink.messages if first_to in str(m["To"])]
    assert len(mails) == 2
    second = link_token(mails[-1])
    assert second != lost
    refused = await env.domains.post(API_PASSWORDS, json={"token": lost, "password": "first lost password!"})
    assert refused.status_code == 422  # the earlier link no longer works
    assert (
        await env.domains.post(API_PASSWORDS, json={"token": second, "password": "joe's first choice"})
    ).status_code == 204

    # Forgotten later: a link to a new address resets the password.
    reset = await env.domains.post(
        f"{base}/vhosts/{domain}/mailboxes/joe/password-link", json={"owner_email": later_to}, headers=owner
    )
    assert reset.status_code == 200, reset.text
    third = link_token(await env.mail_to(later_to, "Set the password"))
    assert (
        await env.domains.post(API_PASSWORDS, json={"token": third, "password": "joe's second choice"})
    ).status_code == 204
    hashed = await env.pool.fetchval("SELECT password_hash FROM mailbox_passwords WHERE mailbox_id = $1", mailbox_id)
    hasher = env.domains_app.state.runtime.extras["domains"].hasher
    assert hasher.verify(hashed, "joe's second choice")
    types = await env.pool.fetch(
        "SELECT event_type, data FROM events WHERE stream_id = $1 ORDER BY stream_version", f"domain-{domain}"
    )
    sent = [r for r in types if r["event_type"] == "MailboxPasswordLinkSent"]
    assert len(sent) == 2
    assert "choice" not in str([r["data"] for r in types])  # passwords never in events

    unknown = await env.domains.post(f"{base}/vhosts/{domain}/mailboxes/nobody/password-link", headers=owner)
    assert unknown.status_code == 404
    other = await env.customer()
    assert (
        await env.domains.post(f"{base}/vhosts/{domain}/mailboxes/joe/password-link", headers=env.owner(other))
    ).status_code == 404
