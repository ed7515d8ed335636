"""Read models: rebuild equals live; a consumer's copy from contacts.events decides like contacts."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import timedelta

import pytest

from shared.audit.rebuild import rebuild_service
from shared.authorization import AuthorizationProjection, Requester, RequesterKind, SqlAuthorizationReader, decide
from shared.consumer import KafkaConsumerRunner
from shared.rebuild import drop_scratch, events_from_store, rebuild, replace_live
from shared.scopes import Scope
from tests.conftest import fresh_pool
from tests.integration.contacts.conftest import ContactsEnv
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _busy_customer(env: ContactsEnv) -> tuple[str, list[str], list[str]]:
    """A customer with a bit of everything: grants, expiry, revocation, departure, instruction."""
    n = await env.customer()
    ada = await env.add_contact(n, "ada@example.org", phone="030 1234567")
    bob = await env.add_contact(n, "bob@example.org", phone="0171 5550123")
    eve = await env.add_contact(n, "eve@agency.example", organisation="Agency", organisation_kind="contractor")
    start = env.tick()
    await env.grant(n, ada, ["all"])
    g_bob = await env.grant(n, bob, ["dns:change", "mailboxes:manage"])
    await env.grant(n, eve, ["credentials:request"], valid_until=(start + timedelta(minutes=5)).isoformat())
    env.tick(10)
    await env.client.post(env.url(n, f"/authorizations/{g_bob}/revocation"), json={"reason": "x"}, headers=env.owner(n))
    env.tick()
    await env.client.put(env.url(n, "/official-instruction"), json={"document_reference": "D-1"}, headers=env.owner(n))
    env.tick()
    await env.client.put(
        env.url(n, f"/contacts/{bob}"), json={"name": "Bob", "email": "robert@example.org"}, headers=env.owner(n)
    )
    env.tick()
    await env.client.post(env.url(n, f"/contacts/{ada}/departure"), json={}, headers=env.owner(n))
    env.tick()
    await env.check(n, {"contact_id": eve}, "credentials:request")
    await env.caught_up()
    return n, [ada, bob, eve], ["ada@example.org", "bob@example.org", "robert@example.org", "nobody@example.org"]


async def test_rebuild_from_the_store_equals_the_live_read_models(env: ContactsEnv) -> None:
    await _busy_customer(env)
    pool = env.app.state.runtime.pool
    store = env.app.state.runtime.store
    for projection in env.app.state.runtime.spec.projections:
        report = await rebuild(pool, projection, events_from_store(store))
        assert report.events > 0
        assert report.identical, (projection.name, report.diffs)


async def test_a_consumer_copy_fed_from_kafka_gives_the_same_decisions_as_contacts(
    env: ContactsEnv, pg_server: str, kafka: str
) -> None:
    n, contact_ids, emails = await _busy_customer(env)
    expected_grants = await env.app.state.runtime.pool.fetchval(
        "SELECT count(*) FROM authz_grants WHERE customer_number = $1 AND revoked_at IS NOT NULL", n
    )
    pool = await fresh_pool(pg_server, max_size=4)
    projection = AuthorizationProjection()
    await pool.execute(projection.ddl)
    runner = KafkaConsumerRunner(pool=pool, bootstrap=kafka, projection=projection, group_id=f"billing-{uuid.uuid4()}")
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        # The last events of the customer are the departure's: wait until they arrived.
        async def departed() -> bool:
            assert not task.done(), task
            revoked = await pool.fetchval(
                "SELECT count(*) FROM authz_grants WHERE customer_number = $1 AND revoked_at IS NOT NULL", n
            )
            removed = await pool.fetchval(
                "SELECT count(*) FROM authz_contacts WHERE customer_number = $1 AND removed_at IS NOT NULL", n
            )
            return bool(revoked >= expected_grants and removed)

        await eventually(departed, "the consumer to catch up", timeout=60)
    finally:
        stop.set()
        await task

    local = SqlAuthorizationReader(pool)
    now = env.clock.now()
    instants = [now - timedelta(minutes=m) for m in (0, 1, 2, 3, 9, 14, 30)]
    requesters = [{"contact_id": c} for c in contact_ids] + [{"email": e} for e in emails] + [{"phone": "030 1234567"}]
    compared = 0
    for who, action, at in itertools.product(requesters, [Scope.CHANGE_DNS, Scope.REQUEST_CREDENTIALS], instants):
        theirs = await env.check(n, who, action.value, at=at.isoformat(), headers=env.owner(n))
        [(kind, raw)] = who.items()
        view = await local.view(n, Requester.heard(RequesterKind(kind), raw), at)
        ours = decide(view, action.value, at)
        assert theirs["outcome"] == ours.outcome.value, (who, action, at)
        assert [r["code"] for r in theirs["reasons"]] == list(ours.codes), (who, action, at)
        assert theirs["grant_id"] == (str(ours.grant_id) if ours.grant_id else None)
        compared += 1
    assert compared == len(requesters) * 2 * len(instants)
    for at in instants:
        theirs_at = await env.client.get(
            env.url(n, "/authorizations"), params={"at": at.isoformat()}, headers=env.owner(n)
        )
        ours_at = await local.authorizations_at(n, at)
        assert [h["contact_id"] for h in theirs_at.json()["holders"]] == [str(h.contact_id) for h in ours_at.holders]
    await pool.close()


async def test_a_live_model_gone_wrong_is_replaced_by_its_rebuild_and_reads_on(env: ContactsEnv, kafka: str) -> None:
    """What an operator does after fixing a projection's bug: `python -m shared.audit rebuild
    contacts --replace`. The rows come back as the events say, and the runner continues."""
    n, (_, _, eve), _ = await _busy_customer(env)
    pool = env.app.state.runtime.pool
    spec = env.app.state.runtime.spec
    grants = "SELECT * FROM authz_grants WHERE customer_number = $1 ORDER BY grant_id"
    contacts = "SELECT contact_id FROM authz_contacts WHERE customer_number = $1 ORDER BY contact_id"
    right = (await pool.fetch(grants, n), await pool.fetch(contacts, n))
    # As a faulty projection would have left them: revocations lost, a contact missing.
    await pool.execute(
        "UPDATE authz_grants SET revoked_at = NULL, revoked_by = NULL, revoke_reason = NULL WHERE customer_number = $1",
        n,
    )
    await pool.execute("DELETE FROM authz_contacts WHERE customer_number = $1 AND contact_id = $2", n, uuid.UUID(eve))

    results = {r.projection: r for r in await rebuild_service(spec, pool, kafka, settle_s=0, replace=True)}
    assert results["authorization"].replaced
    assert not results["authorization-timeline"].replaced  # it was right: left alone
    assert (await pool.fetch(grants, n), await pool.fetch(contacts, n)) == right

    # The live runner reads on from the rebuild's snapshot: what comes later lands, once.
    carl = await env.add_contact(n, "carl@example.org")
    await env.caught_up()
    assert len(await pool.fetch(contacts, n)) == len(right[1]) + 1
    assert uuid.UUID(carl) in {r["contact_id"] for r in await pool.fetch(contacts, n)}
    assert all(r.identical for r in await rebuild_service(spec, pool, kafka, settle_s=0))


async def test_what_was_committed_after_the_rebuild_read_reaches_the_replaced_tables(env: ContactsEnv) -> None:
    n, _, _ = await _busy_customer(env)
    runtime = env.app.state.runtime
    projection = next(p for p in runtime.spec.projections if p.name == "authorization")
    snapshots: list[str] = []
    await rebuild(runtime.pool, projection, events_from_store(runtime.store, on_snapshot=snapshots.append))
    late = await env.add_contact(n, "late@example.org")  # after the rebuild's snapshot
    await env.caught_up()  # the live runner applied it to the old tables

    await replace_live(runtime.pool, runtime.store, projection, snapshots[0])
    await drop_scratch(runtime.pool, projection)
    # The rebuilt rows lack it, yet the replaced tables hold it at once: it was applied to them
    # in the replacement (readers never see the model go back), and the runner does not apply it
    # again (once more would fail on the contact's key).
    lookup = "SELECT count(*) FROM authz_contacts WHERE customer_number = $1 AND contact_id = $2"
    assert await runtime.pool.fetchval(lookup, n, uuid.UUID(late)) == 1
    await env.caught_up()
    assert await runtime.pool.fetchval(lookup, n, uuid.UUID(late)) == 1
    again = await rebuild(runtime.pool, projection, events_from_store(runtime.store))
    await drop_scratch(runtime.pool, projection)
    assert again.identical, again.diffs
