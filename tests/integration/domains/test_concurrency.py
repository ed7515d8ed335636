"""Concurrent commands on one domain: none lost, none doubled, and no pool starvation."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.domains.conftest import Env

pytestmark = pytest.mark.integration


async def test_concurrent_commands_on_one_domain(env: Env) -> None:
    n = await env.customer()
    domain = await env.registered(n)
    base = env.url(n, f"/domains/{domain}")
    # A fresh (uncached) customer and twice as many requests as the pool has connections.
    other = await env.customer()
    other_domain = await env.registered(other)
    answers = await asyncio.gather(
        *(env.domains.post(f"{base}/vhosts", json={"name": f"v{i}.{domain}"}, headers=env.owner(n)) for i in range(20)),
        *(
            env.domains.put(
                env.url(other, f"/domains/{other_domain}/redirects/r{i}.{other_domain}"),
                json={"target_url": "https://yx.de/"},
                headers=env.owner(other),
            )
            for i in range(4)
        ),
    )
    assert [a.status_code for a in answers] == [201] * 20 + [200] * 4, [a.text for a in answers if a.is_error]
    assert sorted(a.json()["version"] for a in answers[:20]) == list(range(2, 22))
    shown = (await env.domains.get(base, headers=env.owner(n))).json()
    assert len(shown["vhosts"]) == 20

    same = await asyncio.gather(
        *(env.domains.post(f"{base}/vhosts", json={"name": f"www.{domain}"}, headers=env.owner(n)) for _ in range(8))
    )
    assert sorted(a.status_code for a in same) == [201] + [409] * 7
