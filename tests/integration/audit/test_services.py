"""Compliance over the real services: contacts, billing and domains running in-process.

Support acts for a customer in billing and domains on behalf of a contact (on a grant, to best
knowledge, refused after the revocation); the audit replays the four public topics and answers on
whose authority, through its HTTP API (compliance role only) and its command line; the services'
checkpoints are published by their workers; the read models rebuild equal to the live ones.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from subprocess import PIPE
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from services.billing.service import SPEC as BILLING
from services.contacts.service import SPEC as CONTACTS
from services.domains.service import SPEC as DOMAINS
from shared.audit import questions
from shared.audit.api import AuditState, compliance_router
from shared.audit.checkpoints import read_checkpoint_log, store_identity
from shared.audit.cli import app as cli
from shared.auth.principal import Role
from shared.auth.testing import TestTokenIssuer
from shared.clock import FixedClock
from shared.db import Pool
from shared.http.problems import install_problem_handlers
from shared.infra.smtp_sink import SmtpSink
from tests.conftest import create_database
from tests.support.kafka import announce_customer
from tests.support.services import running_service
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@dataclass
class Scenario:
    n: str
    contacts: httpx.AsyncClient
    billing: httpx.AsyncClient
    domains: httpx.AsyncClient
    pools: dict[str, Pool]
    urls: dict[str, str]
    issuer: TestTokenIssuer
    ada: str
    grant: str
    mailbox: str
    granted_at: datetime
    revoked_at: datetime
    kafka: str
    contacts_app: FastAPI


@pytest.fixture(scope="module")
async def scenario(pg_server: str, kafka: str, service_topics: object) -> AsyncIterator[Scenario]:
    sink = SmtpSink()
    port = sink.start()
    issuer = TestTokenIssuer()
    verifier = issuer.verifier()
    clock = FixedClock(START)
    urls = {s: await create_database(pg_server) for s in ("contacts", "billing", "domains")}
    n = str(random.randint(10_000_000, 99_999_999))
    owner = issuer.customer(n)
    support = issuer.staff("sam", Role.SUPPORT)
    common: dict[str, Any] = {"clock": clock, "verifier": verifier, "smtp_port": port}
    try:
        async with (
            running_service(CONTACTS, urls["contacts"], kafka, checkpoint_interval_s=0.3, **common) as (c_app, c),
            running_service(BILLING, urls["billing"], kafka, checkpoint_interval_s=0, **common) as (b_app, b),
            running_service(DOMAINS, urls["domains"], kafka, checkpoint_interval_s=0, **common) as (d_app, d),
        ):
            pools = {
                "contacts": c_app.state.runtime.pool,
                "billing": b_app.state.runtime.pool,
                "domains": d_app.state.runtime.pool,
            }

            await announce_customer(kafka, n, f"owner@{n}.example", occurred_at=START)
            for s in ("billing", "domains"):
                await eventually(
                    partial(pools[s].fetchval, "SELECT 1 FROM customer_accounts WHERE customer_number = $1", n),
                    f"{s} knows {n}",
                )
            base = f"/api/contacts/v1/customers/{n}"
            r = await c.post(f"{base}/contacts", json={"name": "Ada", "email": f"ada@{n}.example"}, headers=owner)
            assert r.status_code == 201, r.text
            ada = str(r.json()["contact_id"])
            clock.advance(timedelta(minutes=5))
            granted_at = clock.now()
            r = await c.post(
                f"{base}/contacts/{ada}/authorizations", json={"scopes": ["mailboxes:manage"]}, headers=owner
            )
            assert r.status_code == 201, r.text
            grant = str(r.json()["grant_id"])
            domain = f"d{n}.de"
            r = await d.post(f"/api/domains/v1/customers/{n}/domains", json={"name": domain}, headers=owner)
            assert r.status_code == 201, r.text
            hosting = f"/api/domains/v1/customers/{n}/domains/{domain}"
            r = await d.post(f"{hosting}/vhosts", json={"name": domain}, headers=owner)
            assert r.status_code == 201, r.text
            for s in ("billing", "domains"):
                await eventually(
                    partial(pools[s].fetchval, "SELECT 1 FROM authz_grants WHERE grant_id = $1", uuid.UUID(grant)),
                    f"{s} sees the grant",
                )
            clock.advance(timedelta(minutes=5))
            r = await c.post(
                f"{base}/authorization-checks",
                json={
                    "requester": {"email": f"ADA@{n}.example"},
                    "action": "mailboxes:manage",
                    "ticket_reference": "T-1",
                },
                headers=support,
            )
            assert r.json()["outcome"] == "allowed", r.text
            clock.advance(timedelta(minutes=1))
            on_behalf = {**support, "On-Behalf-Of": f"email:ada@{n}.example"}
            mailbox = {"local_part": "team", "owner_email": f"team@{n}.example"}
            r = await d.post(f"{hosting}/vhosts/{domain}/mailboxes", json=mailbox, headers=on_behalf)
            assert r.status_code == 201, r.text
            clock.advance(timedelta(minutes=1))
            r = await b.put(
                f"/api/billing/v1/customers/{n}/invoice-email",
                json={"email": f"invoices@{n}.example", "version": 0, "on_behalf_of": {"email": f"bob@{n}.example"}},
                headers=support,
            )
            assert r.status_code == 200, r.text
            assert r.json()["decision"]["basis"] == "best_knowledge"
            clock.advance(timedelta(minutes=10))
            revoked_at = clock.now()
            r = await c.post(
                f"{base}/authorizations/{grant}/revocation", json={"reason": "left the project"}, headers=owner
            )
            assert r.status_code == 200, r.text
            await eventually(
                partial(
                    pools["domains"].fetchval,
                    "SELECT 1 FROM authz_grants WHERE grant_id = $1 AND revoked_at IS NOT NULL",
                    uuid.UUID(grant),
                ),
                "domains sees the revocation",
            )
            clock.advance(timedelta(minutes=1))
            r = await d.post(
                f"{hosting}/vhosts/{domain}/mailboxes", json={**mailbox, "local_part": "late"}, headers=on_behalf
            )
            assert r.status_code == 403, r.text
            yield Scenario(
                n, c, b, d, pools, urls, issuer, ada, grant, f"team@{domain}", granted_at, revoked_at, kafka, c_app
            )
    finally:
        sink.stop()


async def replayed(scenario: Scenario) -> AuditState:
    """The audit's state once every event of the scenario's customer is on the public topics."""
    state = AuditState(scenario.kafka, max_staleness_s=None)
    stored = 1  # the announcement on identity.events
    for pool in scenario.pools.values():
        stored += await pool.fetchval("SELECT count(*) FROM events WHERE customer_number = $1", scenario.n)

    async def complete() -> bool:
        await state.refresh()
        return len(state.model.history(scenario.n).events) >= stored

    await eventually(complete, "every event of the scenario replayed")
    return state


async def test_on_whose_authority_support_acted(scenario: Scenario) -> None:
    model = (await replayed(scenario)).model
    [mailbox] = questions.authority_of_object(model, scenario.mailbox)
    assert mailbox.event.event_type == "MailboxCreated"
    assert (mailbox.basis, mailbox.on_behalf_of, mailbox.contact_id) == (
        "grant",
        f"email:ada@{scenario.n}.example",
        scenario.ada,
    )
    assert mailbox.grant is not None
    assert str(mailbox.grant.grant_id) == scenario.grant
    assert mailbox.grant.granted_by == f"customer:{scenario.n}"
    assert mailbox.grant_source == "recorded"
    assert mailbox.agrees is True
    assert [c.outcome for c in mailbox.checks_before] == ["allowed"]
    assert mailbox.contact_name == f"Ada <ada@{scenario.n}.example>"

    [best] = questions.best_knowledge_actions(model, customer_number=scenario.n)
    assert (best.event.service, best.event.event_type, best.on_behalf_of) == (
        "billing",
        "InvoiceEmailChanged",
        f"email:bob@{scenario.n}.example",
    )
    assert best.replayed is not None
    assert best.replayed.outcome == "best_knowledge"
    assert best.agrees is True
    # Billing recorded how far its copy was; replayed on exactly that, the same decision.
    assert best.copy_replayed is not None
    assert best.copy_replayed.outcome == "best_knowledge"
    assert best.agrees_with_copy is True
    # Domains too: the mailbox on Ada's grant, replayed on domains' copy as it recorded it.
    assert mailbox.copy_replayed is not None
    assert mailbox.copy_replayed.grant_id == scenario.grant
    assert mailbox.agrees_with_copy is True

    refused = [
        a
        for a in (questions.answer_authority(model, e) for e in model.history(scenario.n).actions)
        if a.basis == "refused"
    ]
    assert [(a.event.service, a.scope, a.agrees) for a in refused] == [("domains", "mailboxes:manage", True)]
    assert refused[0].agrees_with_copy is True  # its copy had the revocation: the refusal names it
    assert refused[0].replayed is not None
    assert "revoked" in refused[0].replayed.reasons

    during = questions.authorizations_as_of(model, scenario.n, scenario.granted_at + timedelta(minutes=1))
    assert [str(h.contact_id) for h in during.holders] == [scenario.ada]
    assert questions.authorizations_as_of(model, scenario.n, scenario.revoked_at).holders == []
    checks = questions.checks(model, scenario.n)
    assert [(c.agent, c.ticket_reference) for c in checks] == [("staff:sam", "T-1")]


async def test_the_compliance_api_answers_only_compliance(scenario: Scenario) -> None:
    state = await replayed(scenario)
    app = FastAPI()
    app.state.runtime = SimpleNamespace(verifier=scenario.issuer.verifier())
    install_problem_handlers(app)
    app.include_router(compliance_router(state))
    compliance = scenario.issuer.staff("carla", Role.COMPLIANCE)
    base = f"/api/compliance/v1/customers/{scenario.n}"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://audit.test") as client:
        assert (await client.get(f"{base}/timeline")).status_code == 401
        for other in (scenario.issuer.staff("sam", Role.SUPPORT), scenario.issuer.customer(scenario.n)):
            r = await client.get(f"{base}/timeline", headers=other)
            assert r.status_code == 403, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
        r = await client.get(
            f"{base}/authorizations",
            params={"at": (scenario.granted_at + timedelta(minutes=1)).isoformat()},
            headers=compliance,
        )
        assert r.status_code == 200, r.text
        assert [h["contact_id"] for h in r.json()["holders"]] == [scenario.ada]
        r = await client.get("/api/compliance/v1/authority", params={"object": scenario.mailbox}, headers=compliance)
        assert [(a["basis"], a["grant"]["grant_id"]) for a in r.json()] == [("grant", scenario.grant)]
        event_id = r.json()[0]["event"]["event_id"]
        r = await client.get(f"/api/compliance/v1/events/{event_id}/authority", headers=compliance)
        assert r.json()["checks_before"][0]["ticket_reference"] == "T-1"
        assert (await client.get("/api/compliance/v1/events/nope/authority", headers=compliance)).status_code == 404
        assert (
            await client.get("/api/compliance/v1/customers/99999999999/timeline", headers=compliance)
        ).status_code == 404
        r = await client.get(f"{base}/best-knowledge", headers=compliance)
        assert [a["event"]["service"] for a in r.json()] == ["billing"]
        checked = (await client.get(f"{base}/checks", headers=compliance)).json()
        assert [(c["ticket_reference"], c["agrees"], c["replayed"]["outcome"]) for c in checked] == [
            ("T-1", True, checked[0]["outcome"])
        ]
        changes = (await client.get(f"{base}/authorization-changes", headers=compliance)).json()
        assert [c["event_type"] for c in changes] == [
            "ContactAdded",
            "ContactAuthorized",
            "ContactAuthorizationRevoked",
        ]
        # A window of the timeline (`since`/`until` were a 500 while their types were local names).
        window = {
            "since": scenario.granted_at.isoformat(),
            "until": (scenario.revoked_at - timedelta(seconds=1)).isoformat(),
        }
        r = await client.get(f"{base}/timeline", params=window, headers=compliance)
        assert r.status_code == 200, r.text
        types = [t["event"]["event_type"] for t in r.json()]
        assert "ContactAuthorized" in types
        assert not {"ContactAdded", "ContactAuthorizationRevoked"} & set(types)
        r = await client.get(f"{base}/export", params={"format": "csv"}, headers=compliance)
        rows = list(csv.DictReader(io.StringIO(r.text)))
        timeline = (await client.get(f"{base}/timeline", headers=compliance)).json()
        assert len(timeline) > 4
        # Pages of 2, each naming the next in its Link header, together are the whole timeline.
        paged: list[dict[str, object]] = []
        page = await client.get(
            f"{base}/timeline",
            params={"limit": 2, "service": ["contacts", "billing", "domains", "identity"]},
            headers=compliance,
        )
        while True:
            assert page.status_code == 200, page.text
            paged += page.json()
            if "link" not in page.headers:
                break
            following = page.headers["link"].split(">")[0].lstrip("<")
            assert "service=billing" in following
            page = await client.get(following, headers=compliance)
        assert paged == timeline
        unknown = await client.get(f"{base}/timeline", params={"after": "nope"}, headers=compliance)
        assert unknown.status_code == 422, unknown.text
        unknown = await client.get(f"{base}/timeline", params={"service": "nonsense"}, headers=compliance)
        assert unknown.status_code == 422, unknown.text
        assert [row["event_id"] for row in rows] == [t["event"]["event_id"] for t in timeline]
        assert {row["basis"] for row in rows} >= {"grant", "best_knowledge", "refused", "account_owner"}
        r = await client.get(f"{base}/export", params={"format": "markdown"}, headers=compliance)
        assert r.headers["content-type"].startswith("text/markdown")
        assert scenario.grant in r.text
        digest = (await client.get("/api/compliance/v1/replay/state-hash", headers=compliance)).json()["state_hash"]
        assert f"`{digest}`" in r.text
        r = await client.get(f"{base}/export", params={"format": "json"}, headers=compliance)
        assert r.json()["source"]["state_hash"] == digest
        status = (await client.post("/api/compliance/v1/replay", headers=compliance)).json()
        assert status["events"] >= len(rows)
        assert status["malformed_records"] == []
        digest = (await client.get("/api/compliance/v1/replay/state-hash", headers=compliance)).json()
        assert len(digest["state_hash"]) == 64


def run_cli(*args: str) -> Any:
    """The Typer app in a thread of its own (it runs its own event loop)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


async def json_from_cli(*args: str) -> Any:
    """`python -m shared.audit ... --json` as a process: stdout holds the answer and nothing else
    (in-process, the services' log lines of this test would land in the captured stdout too)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.audit", *args, "--json", stdout=PIPE, stderr=PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return orjson.loads(out)


async def test_the_command_line(scenario: Scenario, tmp_path: Path) -> None:
    await replayed(scenario)
    kafka = ["--kafka", scenario.kafka]
    answers = await json_from_cli("authority", "--object", scenario.mailbox, *kafka)
    assert answers[0]["grant"]["grant_id"] == scenario.grant
    result = await asyncio.to_thread(run_cli, "export", scenario.n, "--out", str(tmp_path), *kafka)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in await asyncio.to_thread(lambda: list(tmp_path.iterdir()))) == [
        f"customer-{scenario.n}-history.{s}" for s in ("csv", "json", "md")
    ]
    answers = await json_from_cli("best-knowledge", "--customer", scenario.n, *kafka)
    assert [a["event"]["event_type"] for a in answers] == ["InvoiceEmailChanged"]
    result = await asyncio.to_thread(run_cli, "checkpoint", "billing", "--dsn", scenario.urls["billing"], *kafka)
    assert result.exit_code == 0, result.output
    assert "checkpoint #" in result.output
    result = await asyncio.to_thread(run_cli, "verify", "billing", "--dsn", scenario.urls["billing"], *kafka)
    assert result.exit_code == 0, result.output
    assert "OK: no alteration found" in result.output
    result = await asyncio.to_thread(run_cli, "rebuild", "domains", "--dsn", scenario.urls["domains"], *kafka)
    assert result.exit_code == 0, result.output
    # A read model gone wrong (as a faulty projection would leave it): found, then replaced.
    # One of the own store, one a Kafka consumer's copy (of identity's customer accounts).
    domains_db = scenario.pools["domains"]
    tables = ("SELECT * FROM contract_domains ORDER BY 1, 2", "SELECT * FROM customer_accounts ORDER BY 1")
    rows = [await domains_db.fetch(sql) for sql in tables]
    await domains_db.execute("DELETE FROM contract_domains")
    await domains_db.execute("UPDATE customer_accounts SET reference_email = 'wrong@example.org'")
    rebuild = ("rebuild", "domains", "--dsn", scenario.urls["domains"], *kafka)
    result = await asyncio.to_thread(run_cli, *rebuild)
    assert result.exit_code == 1, result.output
    result = await asyncio.to_thread(run_cli, *rebuild, "--replace")
    assert result.exit_code == 0, result.output
    assert result.output.count("replaced") == 2, result.output
    assert [await domains_db.fetch(sql) for sql in tables] == rows


async def test_workers_publish_checkpoints_of_their_store(scenario: Scenario) -> None:
    async with scenario.pools["contacts"].acquire() as conn:
        store = await eventually(
            lambda: store_identity(conn, "contacts"), "the contacts workers published a checkpoint"
        )
    log = await eventually(
        lambda: _log_with_checkpoints(scenario.kafka, store), "the checkpoint reached contacts.checkpoints"
    )
    assert log.problems == []
    async with scenario.pools["contacts"].acquire() as conn:
        from shared.audit.verify import verify_store

        report = await verify_store(conn, "contacts", log)
    assert report.ok, report.summary()
    assert report.covered_events > 0


async def _log_with_checkpoints(kafka: str, store: str) -> Any:
    log = await read_checkpoint_log(kafka, "contacts", store=store)
    return log if log.checkpoints else None


async def test_the_command_line_compares_with_contacts_over_http(scenario: Scenario) -> None:
    """`authorizations --gateway`: the replay's answer against the contacts service's own, over HTTP."""
    import uvicorn

    from shared.auth.principal import PrincipalKind
    from shared.infra.processes import free_port

    await replayed(scenario)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(scenario.contacts_app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: asyncio.sleep(0, server.started), "the contacts app listens")
        token = scenario.issuer.token("carla", PrincipalKind.STAFF, [Role.COMPLIANCE])
        common = ["--gateway", f"http://127.0.0.1:{port}", "--token", token, "--kafka", scenario.kafka]
        for at in (scenario.granted_at + timedelta(minutes=1), scenario.revoked_at + timedelta(minutes=1)):
            result = await asyncio.to_thread(run_cli, "authorizations", scenario.n, "--at", at.isoformat(), *common)
            assert result.exit_code == 0, result.output
            assert "gives the same answer" in result.output
        result = await asyncio.to_thread(
            run_cli,
            "authorizations",
            scenario.n,
            "--gateway",
            f"http://127.0.0.1:{port}",
            "--token",
            "x",
            "--kafka",
            scenario.kafka,
        )
        assert result.exit_code == 2
        # A mistyped customer number is said, not answered "nobody held anything".
        for command in ("authorizations", "timeline", "checks"):
            result = await asyncio.to_thread(run_cli, command, "99999999999", "--kafka", scenario.kafka)
            assert result.exit_code == 2, (command, result.output)
            assert "no events of customer 99999999999" in result.output
        result = await asyncio.to_thread(run_cli, "authorizations", scenario.n, "--at", "yesterday")
        assert result.exit_code == 2, result.output
        assert "not an RFC 3339 instant" in result.output
    finally:
        server.should_exit = True
        await serving
