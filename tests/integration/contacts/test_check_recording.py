"""Support's checks are recorded, each once, also when many arrive at the same time."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.contacts.conftest import ContactsEnv

pytestmark = pytest.mark.integration


async def test_concurrent_checks_are_all_recorded_in_order_per_customer(env: ContactsEnv) -> None:
    customers = [await env.customer() for _ in range(3)]
    for n in customers:
        await env.add_contact(n, "ada@example.org")
    await env.caught_up()

    async def check(i: int) -> dict[str, object]:
        n = customers[i % 3]
        r = await env.client.post(
            env.url(n, "/authorization-checks"),
            json={"requester": {"email": "ada@example.org"}, "action": "contracts:view", "ticket_reference": f"T{i}"},
            headers=env.support(f"agent{i % 4}"),
        )
        assert r.status_code == 200, r.text
        body: dict[str, object] = r.json()
        return body

    results = await asyncio.gather(*(check(i) for i in range(60)))
    assert len({r["check_id"] for r in results}) == 60
    pool = env.app.state.runtime.pool
    for n in customers:
        versions = await pool.fetch(
            "SELECT stream_version, data->>'ticket_reference' AS ticket FROM events WHERE stream_id = $1"
            " ORDER BY stream_version",
            f"customer-authorization-checks-{n}",
        )
        assert [v["stream_version"] for v in versions] == list(range(1, 21))
        assert len({v["ticket"] for v in versions}) == 20


async def test_a_check_never_contradicts_a_change_confirmed_before_it(env: ContactsEnv) -> None:
    # The follower hears of a commit a moment after the writer has confirmed it. Here it hears of
    # none while the check runs: only the check's own wait for the store can bring the change in.
    n = await env.customer()
    ada = await env.add_contact(n, "ada@example.org")
    grant = await env.grant(n, ada, ["dns:change"])
    await env.caught_up()
    runtime = env.app.state.runtime
    follower = runtime.extras["authorization_follower"]
    runtime.extras["authorization_follower_task"].cancel()
    try:
        revoked = await env.client.post(
            env.url(n, f"/authorizations/{grant}/revocation"), json={"reason": "left"}, headers=env.owner(n)
        )
        assert revoked.status_code == 200, revoked.text
        checks = await asyncio.gather(
            *(
                env.client.post(
                    env.url(n, "/authorization-checks"),
                    json={"requester": {"contact_id": ada}, "action": "dns:change"},
                    headers=env.support(),
                )
                for _ in range(5)
            )
        )
        for r in checks:
            assert r.status_code == 200, r.text
            assert (r.json()["outcome"], r.json()["reasons"][0]["code"]) == ("denied", "revoked"), r.text
        recorded = await runtime.pool.fetch(
            "SELECT data->>'outcome' AS outcome FROM events WHERE stream_id = $1", f"customer-authorization-checks-{n}"
        )
        assert [r["outcome"] for r in recorded] == ["denied"] * 5
    finally:
        runtime.extras["authorization_follower_task"] = asyncio.get_running_loop().create_task(follower.run())
