"""Support's checks are recorded, each once, also when many arrive at the same time."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.contacts.conftest import ContactsEnv, new_customer

pytestmark = pytest.mark.integration


async def test_concurrent_checks_are_all_recorded_in_order_per_customer(env: ContactsEnv) -> None:
    customers = [new_customer() for _ in range(3)]
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
