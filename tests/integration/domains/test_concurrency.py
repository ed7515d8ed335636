"""Concurrent commands on one domain: none lost, none doubled, and no pool starvation."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import pytest

from services.domains import handlers
from services.domains.domain.names import parse_host
from services.domains.domain.urls import parse_target_url
from services.domains.states import DomainStates
from shared.envelope import Actor, ActorKind, EventContext
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


async def test_a_state_kept_behind_the_store_is_never_acted_on(env: Env) -> None:
    """Another replica appends behind this process's back: the kept state is then stale, and
    neither a command it would allow, nor one it would refuse, nor one it finds already done may
    be answered from it."""
    n = await env.customer()
    domain = await env.registered(n)
    base = env.url(n, f"/domains/{domain}")
    rt = env.domains_app.state.runtime.extras["domains"]
    other_replica = dataclasses.replace(rt, states=DomainStates(rt.uow.store.registry))
    context = EventContext(n, Actor(ActorKind.CUSTOMER, n), env.clock.now(), uuid.uuid4())
    www = parse_host(f"www.{domain}", what="vhost")

    created = await env.domains.post(f"{base}/vhosts", json={"name": www.ascii}, headers=env.owner(n))
    assert created.status_code == 201, created.text  # kept here at version 2
    await handlers.delete_vhost(other_replica, domain, www, context)  # version 3, unseen here
    again = await env.domains.post(f"{base}/vhosts", json={"name": www.ascii}, headers=env.owner(n))
    assert (again.status_code, again.json()["version"]) == (201, 4), again.text

    await handlers.delete_vhost(other_replica, domain, www, context)  # version 5, unseen here
    target = {"target_url": "https://yx.de/"}
    await handlers.set_redirect(  # version 6, unseen here
        other_replica, domain, www, parse_target_url(target["target_url"]), True, context
    )
    redirect = await env.domains.put(f"{base}/redirects/{www.ascii}", json=target, headers=env.owner(n))
    assert (redirect.status_code, redirect.json()["version"]) == (200, 6), redirect.text  # already so
    gone = await env.domains.delete(f"{base}/vhosts/{www.ascii}", headers=env.owner(n))
    assert gone.status_code == 404, gone.text
    other = await env.domains.post(f"{base}/vhosts", json={"name": f"mail.{domain}"}, headers=env.owner(n))
    assert (other.status_code, other.json()["version"]) == (201, 7), other.text
    shown = (await env.domains.get(base, headers=env.owner(n))).json()
    assert [v["name"] for v in shown["vhosts"]] == [f"mail.{domain}"]
