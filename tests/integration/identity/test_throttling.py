"""Throttling failed logins: progressive delays, the hourly ceiling, per-address limits, races."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.integration.identity.harness import IdentityHarness, new_customer_number

pytestmark = pytest.mark.integration

WRONG = "certainly-not-the-password"


def _address(i: int) -> str:
    return f"198.51.{100 + i // 250}.{1 + i % 250}"


async def _events_of(identity: IdentityHarness, number: str, *types: str) -> list[dict[str, object]]:
    rows = await identity.runtime.pool.fetch(
        "SELECT event_type, data FROM events WHERE customer_number = $1 AND event_type = ANY($2::text[])"
        " ORDER BY position",
        number,
        list(types),
    )
    return [{"type": r["event_type"], **r["data"]} for r in rows]


async def test_progressive_delays_then_the_owner_gets_in(identity: IdentityHarness) -> None:
    number, _, password = await identity.customer_with_password()
    clients = [identity.client_from(_address(i)) for i in range(12)]
    try:
        for i in range(5):
            assert (await identity.login(number, WRONG, clients[i])).status_code == 401
        delays = []
        for i in range(5, 9):
            refused = await identity.login(number, WRONG, clients[i])
            assert refused.status_code == 429
            assert refused.headers["content-type"] == "application/problem+json"
            delay = int(refused.headers["retry-after"])
            delays.append(delay)
            # The owner, with the right password, waits just the same (no oracle while throttled).
            assert (await identity.login(number, password, clients[i])).status_code == 429
            identity.clock.advance(timedelta(seconds=delay))
            assert (await identity.login(number, WRONG, clients[i])).status_code == 401
        assert delays == [1, 2, 4, 8]

        identity.clock.advance(timedelta(seconds=16))
        assert (await identity.login(number, password, clients[10])).status_code == 201
        # A success starts the account afresh.
        assert (await identity.login(number, WRONG, clients[11])).status_code == 401
    finally:
        for client in clients:
            await client.aclose()

    throttled = await _events_of(identity, number, "AccountThrottled")
    assert [e["reason"] for e in throttled] == ["progressive_delay"]
    assert len(await _events_of(identity, number, "LoginFailed")) == 10


async def test_at_most_one_hundred_failures_per_account_and_hour(identity: IdentityHarness) -> None:
    number, _, password = await identity.customer_with_password()
    failures, wait = 0, 0
    started = identity.clock.now()
    for i in range(200):
        client = identity.client_from(_address(i))  # a distributed attack: every try from elsewhere
        async with client:
            response = await identity.login(number, WRONG, client)
        if response.status_code == 401:
            failures += 1
            continue
        assert response.status_code == 429
        wait = int(response.headers["retry-after"])
        if wait > 30:  # more than the longest progressive delay: the hourly ceiling
            break
        identity.clock.advance(timedelta(seconds=wait))
    assert failures == 100
    assert identity.clock.now() - started < timedelta(hours=1)
    # Not locked for good: once the oldest failure is an hour old, the owner gets in.
    identity.clock.advance(timedelta(seconds=wait))
    assert (await identity.login(number, password)).status_code == 201
    throttled = await _events_of(identity, number, "AccountThrottled")
    assert [(e["reason"], e["failures_in_window"]) for e in throttled] == [
        ("progressive_delay", 5),
        ("hourly_limit", 100),
    ]


async def test_one_address_is_limited_across_accounts(identity: IdentityHarness) -> None:
    number, _, password = await identity.customer_with_password()
    attacker = identity.client_from("203.0.113.66")
    async with attacker:
        for _ in range(20):
            assert (await identity.login(new_customer_number(), WRONG, attacker)).status_code == 401
        blocked = await identity.login(new_customer_number(), WRONG, attacker)
        assert blocked.status_code == 429
        # Even the right password of a real account waits when it comes from that address ...
        assert (await identity.login(number, password, attacker)).status_code == 429
    # ... while everyone else logs in as usual.
    assert (await identity.login(number, password)).status_code == 201


async def test_racing_attempts_cannot_slip_past_the_limit(identity: IdentityHarness) -> None:
    number, _, _ = await identity.customer_with_password()
    clients = [identity.client_from(_address(i)) for i in range(30)]
    try:
        responses = await asyncio.gather(*(identity.login(number, WRONG, c) for c in clients))
    finally:
        for client in clients:
            await client.aclose()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * 5 + [429] * 25


async def test_unknown_accounts_are_throttled_alike(identity: IdentityHarness) -> None:
    known, _, _ = await identity.customer_with_password()
    unknown = new_customer_number()
    answers: dict[str, list[int]] = {known: [], unknown: []}
    for number in (known, unknown):
        for i in range(7):
            client = identity.client_from(_address(300 + i + (0 if number == known else 50)))
            async with client:
                answers[number].append((await identity.login(number, WRONG, client)).status_code)
    assert answers[known] == answers[unknown] == [401] * 5 + [429] * 2
    assert await _events_of(identity, unknown, "LoginFailed") == []


async def test_many_people_behind_one_address_log_in_at_once(identity: IdentityHarness) -> None:
    people = [await identity.customer_with_password() for _ in range(25)]
    office = identity.client_from("192.0.2.10")
    async with office:
        responses = await asyncio.gather(*(identity.login(n, pw, office) for n, _, pw in people))
    assert {r.status_code for r in responses} == {201}
