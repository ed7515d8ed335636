"""Bad names, hosts, local parts and redirect targets are refused at the HTTP edge with 422, recording nothing.

The full batteries (and the hypothesis properties) run against the pure validators in
tests/unit/domains; here a selection goes through every entry point that takes such input.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.integration.domains.conftest import Env
from tests.unit.domains.test_names import BAD_NAMES
from tests.unit.domains.test_urls import BAD_TARGETS

pytestmark = pytest.mark.integration


async def test_bad_input_is_refused_everywhere_and_nothing_is_recorded(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    owner = env.owner(n)
    base = env.url(n, f"/domains/{domain}")
    assert (await env.domains.post(f"{base}/vhosts", json={"name": domain}, headers=owner)).status_code == 201
    before = await env.pool.fetchval("SELECT count(*) FROM events WHERE customer_number = $1", n)
    mails = len(env.sink.messages)

    async def refused(method: str, path: str, body: object = None) -> None:
        r = await env.domains.request(method, path, json=body, headers=owner)
        assert r.status_code == 422, (method, path, body, r.status_code, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["title"]

    for name in [
        *(b for b in BAD_NAMES if b),
        f"shop.{domain}",
        "co.uk",
        "example.notatld",
        "p\u0430ypal.de",
        "\u0430\u0440\u0440\u04cf\u0435.de",
    ]:  # apple.de spelt in Cyrillic letters
        await refused("POST", env.url(n, "/domains"), {"name": name})
    for host in ["example.com", "www.example.com", f"x{domain}", f"{domain}.evil.example", "a b", "-x." + domain]:
        await refused("POST", f"{base}/vhosts", {"name": host})
        await refused("PUT", f"{base}/redirects/{quote(host, safe='')}", {"target_url": "https://yx.de/"})
    for target in [t for t in BAD_TARGETS if t]:
        await refused("PUT", f"{base}/redirects/www.{domain}", {"target_url": target})
    await refused("PUT", f"{base}/redirects/www.{domain}", {"target_url": f"https://www.{domain}/loop"})
    for local_part in [".a", "a..b", "ä", "a b", "a@b", "x" * 65]:
        await refused("POST", f"{base}/vhosts/{domain}/mailboxes", {"local_part": local_part, "owner_email": "o@x.de"})
    await refused("POST", f"{base}/vhosts/{domain}/mailboxes", {"local_part": "ok", "owner_email": "not-an-address"})
    await refused("POST", f"{base}/cancellation", {"effective_on": "2020-01-01"})
    await refused("POST", f"{base}/cancellation", {"effective_on": "2031-01-01"})
    await refused("POST", env.url(n, "/domains"), {"name": "ok.de", "extra": True})

    after = await env.pool.fetchval("SELECT count(*) FROM events WHERE customer_number = $1", n)
    assert after == before
    assert len(env.sink.messages) == mails  # no mail went out for refused input
