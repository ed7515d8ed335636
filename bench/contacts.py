"""Benchmark of the authorization check over real HTTP: "now" and "as of T", customer and support.

Data set: 10,000 customers x 5 contacts x 3 grants (150,000 grants), written straight into a
fresh contacts database through the event store (one append per customer and step), then the
read models are caught up by the real projection runners. The contacts API then runs as its own
process (`python -m services.contacts api` with CONTACTS_API_PROCESSES=2: a supervisor and two
API processes, one per core, each with its own socket on the port) on a free port, verifying
EdDSA tokens against a JWKS served from this process, exactly as in production with identity.

Load comes from `wrk` (C, one thread; on the same two cores it still takes ~15-20 µs of CPU
per request, measured, far less than a Python client would) with a Lua script
that cycles through pre-built requests (a different customer, token and requester each time):

* saturation: closed loop, a few connections, as fast as the server answers -> checks/s;
* steady: connections each pausing between requests, together offering about 70 % of the
  saturation rate -> p50/p99 at a rate the server sustains (wrk has no fixed-rate mode; the
  pause is corrected once from the rate reached, and the rate reached is reported);
* at target: the same at the issue's target rate (15,000/s now, 5,000/s as of), when the
  maximum exceeds it.

Then the issue's yardstick (`bench.yardstick`: bare Starlette answering a dictionary lookup) runs
on the same port layout, beside the same PostgreSQL and Kafka, with the customers' "now" requests,
measured as they were (saturation, at 15,000/s): what the host gives at that hour, against which
the check's figures read.

Checks by the customer itself are read-only; checks by support are recorded (AuthorizationChecked,
one append per check), so they are measured separately.

    python -c "import asyncio, bench.contacts as b; print(asyncio.run(b.bench_checks(DSN, KAFKA)))"
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.support import (
    REPO,
    WRK_LUA_TAIL,
    IdentityStandIn,
    fresh_database,
    run_wrk,
    run_wrk_at_rate,
    spawn_service,
    wait_ready,
)
from services.contacts.domain.events import (
    ContactAdded,
    ContactAuthorizationRevoked,
    ContactAuthorized,
    OfficialInstructionIssued,
    registry,
)
from services.contacts.service import SPEC
from shared import db
from shared.authorization.contract import GrantBasis
from shared.envelope import Actor, ActorKind, DomainEvent, EventContext
from shared.eventstore.postgres import PostgresEventStore
from shared.infra.processes import free_port
from shared.projections import ProjectionRunner
from shared.scopes import Scope
from shared.service import service_migrations

DATABASE = "bench_contacts_checks"
CUSTOMERS = 10_000
CONTACTS = 5
GRANTS = 3
NOW = datetime.now(UTC).replace(microsecond=0)
SEEDED_FROM = NOW - timedelta(days=365)
SCOPES = [s for s in Scope if s is not Scope.ALL]
# One API process per core (the API is stateless; each process holds its own copy of the model).
API_PROCESSES = 2
# The targets, also measured at exactly that offered rate when the maximum allows it.
TARGET_RATES = {"customer_now": 15_000, "customer_as_of": 5_000}

_LUA = (
    r"""
-- Cycles through pre-built requests ("path\ttoken\tbody" per line); optional pause per request.
local requests = {}
local i = 0
local pause = tonumber(os.getenv("BENCH_PAUSE_MS") or "0")

function init(args)
  local n = 0
  for line in io.lines(args[1]) do
    local path, token, body = line:match("([^\t]+)\t([^\t]+)\t(.+)")
    n = n + 1
    requests[n] = wrk.format("POST", path, {
      ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }, body)
  end
  i = math.random(n)
end
"""
    + WRK_LUA_TAIL
)


def customer_number(i: int) -> str:
    return f"{7_000_000 + i}"


def contact_id(i: int, j: int) -> uuid.UUID:
    return uuid.UUID(int=(i + 1) * 16 + j)


def grant_id(i: int, j: int, k: int) -> uuid.UUID:
    return uuid.UUID(int=(1 << 64) + ((i + 1) * 16 + j) * 4 + k)


def _customer_events(i: int, rng: random.Random) -> list[tuple[datetime, list[DomainEvent]]]:
    """One customer's history: contacts and grants, later a revocation and maybe an instruction."""
    n = customer_number(i)
    start = SEEDED_FROM + timedelta(minutes=rng.randrange(60 * 24 * 180))
    first: list[DomainEvent] = []
    for j in range(CONTACTS):
        first.append(
            ContactAdded(
                contact_id(i, j),
                f"Person {j}",
                f"p{j}.{n}@example.org",
                f"030 {n}{j}",
                None,
                None,
                phone_e164=f"+4930{n}{j}",
            )
        )
        for k in range(GRANTS):
            until = start + timedelta(days=rng.randrange(30, 300)) if k == 2 else None
            scopes = tuple(sorted(rng.sample(SCOPES, 2), key=str))
            first.append(
                ContactAuthorized(
                    grant_id(i, j, k),
                    contact_id(i, j),
                    scopes,
                    start,
                    until,
                    f"customer:{n}",
                    GrantBasis.PORTAL_ACCOUNT_OWNER,
                )
            )
    later = start + timedelta(days=rng.randrange(1, 180))
    second: list[DomainEvent] = [
        ContactAuthorizationRevoked(
            grant_id(i, 0, 0), contact_id(i, 0), "no longer needed", f"customer:{n}", GrantBasis.PORTAL_ACCOUNT_OWNER
        )
    ]
    if i % 2:
        second.append(OfficialInstructionIssued(f"DOC-{n}", f"customer:{n}"))
    return [(start, first), (later, second)]


async def seed(url: str, *, customers: int = CUSTOMERS, writers: int = 8) -> dict[str, float]:
    """Append every customer's history and catch the read models up; returns timings."""
    pool = await db.create_pool(url, min_size=2, max_size=writers + 2)
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn, service_migrations(SPEC))
            for projection in (*SPEC.projections, *SPEC.kafka_projections):
                await conn.execute(projection.ddl)
        store = PostgresEventStore(pool, registry)
        rng = random.Random(20261127)
        histories = [(i, _customer_events(i, rng)) for i in range(customers)]
        started = time.perf_counter()
        queue: Iterator[tuple[int, list[tuple[datetime, list[DomainEvent]]]]] = iter(histories)

        async def writer() -> None:
            for i, steps in queue:
                n = customer_number(i)
                version = 0
                for at, events in steps:
                    context = EventContext(n, Actor(ActorKind.CUSTOMER, n), at, uuid.uuid4(), metadata={"seed": True})
                    await store.append(f"customer-contacts-{n}", version, events, context)
                    version += len(events)

        await asyncio.gather(*(writer() for _ in range(writers)))
        appended = time.perf_counter() - started
        # The accounts, as contacts' copy of identity.events holds them: support names known customers.
        await pool.executemany(
            "INSERT INTO customer_accounts (customer_number, name, reference_email, opened_at, changed_at)"
            " VALUES ($1, $2, $3, $4, $4)",
            [(customer_number(i), f"Customer {i}", f"owner-{i}@example.org", SEEDED_FROM) for i in range(customers)],
        )
        started = time.perf_counter()
        for projection in SPEC.projections:
            await ProjectionRunner(pool=pool, store=store, projection=projection, batch_size=5000).catch_up()
        projected = time.perf_counter() - started
        async with pool.acquire() as conn:
            await conn.execute("VACUUM ANALYZE")
        events = await pool.fetchval("SELECT count(*) FROM events")
    finally:
        await pool.close()
    return {"seed_events": float(events), "seed_append_s": appended, "seed_projection_s": projected}


def _requests(keys: IdentityStandIn, *, staff: bool, as_of: bool, count: int, customers: int) -> list[str]:
    rng = random.Random(7 + staff + 2 * as_of)
    support = keys.support_token()
    lines = []
    for _ in range(count):
        i = rng.randrange(customers)
        n = customer_number(i)
        j = rng.randrange(CONTACTS + 1)  # one in six asks about an unknown person
        kind = rng.choice(["contact_id", "email", "phone"])
        if kind == "contact_id":
            requester = {"contact_id": str(contact_id(i, j) if j < CONTACTS else uuid.uuid4())}
        elif kind == "email":
            requester = {"email": f"P{j}.{n}@Example.org"}
        else:
            requester = {"phone": f"+49 (30) {n}{j}"}
        body: dict[str, Any] = {"requester": requester, "action": rng.choice(SCOPES).value}
        if as_of:
            body["at"] = (SEEDED_FROM + timedelta(seconds=rng.randrange(365 * 86400))).isoformat()
        if staff:
            body["ticket_reference"] = f"T-{rng.randrange(10**6)}"
        token = support if staff else keys.customer_token(n)
        lines.append(f"/api/contacts/v1/customers/{n}/authorization-checks\t{token}\t{json.dumps(body)}")
    return lines


async def _start_api(
    url: str, kafka: str, jwks_url: str, processes: int = API_PROCESSES
) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    env = {**os.environ, "CONTACTS_DATABASE_URL": url, "KAFKA_BOOTSTRAP_SERVERS": kafka, "CONTACTS_PORT": str(port),
           "IDENTITY_JWKS_URL": jwks_url, "DB_POOL_SIZE": "10",
           "CONTACTS_API_PROCESSES": str(processes)}  # fmt: skip
    proc = await spawn_service("contacts", "api", env)
    base = f"http://127.0.0.1:{port}"
    await wait_ready(base, "contacts", proc)
    return proc, base


async def _sanity(base: str, keys: IdentityStandIn) -> None:
    """One check answered as expected before measuring anything."""
    n = customer_number(1)
    body = {"requester": {"phone": f"030 {n}1"}, "action": "contracts:view"}
    headers = {"Authorization": f"Bearer {keys.customer_token(n)}"}
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{base}/api/contacts/v1/customers/{n}/authorization-checks", json=body, headers=headers)
    if r.status_code != 200 or r.json()["contact_id"] != str(contact_id(1, 1)):
        raise RuntimeError(f"sanity check failed: {r.status_code} {r.text[:300]}")


async def _through_gateway(base: str, work: Path, script: Path, seconds: int) -> dict[str, float]:
    """The customer's "now" checks again, through the Caddy gateway in front of the same API."""
    from shared.infra.gateway import CaddyGateway

    api_port = int(base.rsplit(":", 1)[1])
    gateway = CaddyGateway(work, free_port(), {"contacts": api_port})
    url = gateway.start()
    try:
        data = work / "customer_now.tsv"
        target_url = f"{url.rstrip('/')}/api/contacts/v1/"
        await run_wrk(target_url, script, data, seconds=2, connections=8)
        saturated = await run_wrk(target_url, script, data, seconds=seconds, connections=8)
        steady = await run_wrk_at_rate(target_url, script, data, 0.7 * saturated["rate"], saturated["p50_ms"], seconds)
    finally:
        gateway.stop()
    return {
        "gateway_customer_now_max_per_s": saturated["rate"],
        "gateway_customer_now_steady_per_s": steady["rate"],
        "gateway_customer_now_steady_p50_ms": steady["p50_ms"],
        "gateway_customer_now_steady_p99_ms": steady["p99_ms"],
        "gateway_errors": saturated["errors"] + steady["errors"],
    }


async def _yardstick(data: Path, script: Path, seconds: int) -> dict[str, float]:
    """The issue's yardstick (`bench.yardstick`: bare Starlette, a dictionary lookup) on uvicorn
    as the API runs (uvloop, httptools, as many processes), after the API has stopped, with the
    customers' "now" requests and measured as they were."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "bench.yardstick:app", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(API_PROCESSES), "--loop", "uvloop", "--http", "httptools",
        "--no-access-log", "--log-level", "warning", cwd=REPO,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base, "yardstick", proc)
        await run_wrk(base, script, data, seconds=3, connections=16)
        saturated = await run_wrk(base, script, data, seconds=seconds, connections=16)
        target = TARGET_RATES["customer_now"]
        at_target = await run_wrk_at_rate(base, script, data, target, saturated["p50_ms"], seconds)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=20)
    return {
        "yardstick_max_per_s": saturated["rate"],
        "yardstick_max_p99_ms": saturated["p99_ms"],
        "yardstick_at_target_per_s": at_target["rate"],
        "yardstick_at_target_p50_ms": at_target["p50_ms"],
        "yardstick_at_target_p99_ms": at_target["p99_ms"],
        "yardstick_errors": saturated["errors"] + at_target["errors"],
    }


async def bench_checks(
    pg_server_dsn: str, kafka: str, *, customers: int = CUSTOMERS, seconds: int = 10
) -> dict[str, float]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    url = await fresh_database(pg_server_dsn, DATABASE)
    figures = await seed(url, customers=customers)
    keys = IdentityStandIn()
    work = Path(tempfile.mkdtemp(prefix="bench-contacts-"))
    script = work / "checks.lua"
    script.write_text(_LUA)
    proc, base = await _start_api(url, kafka, keys.jwks_url)
    try:
        await _sanity(base, keys)
        for staff in (False, True):
            for as_of in (False, True):
                label = f"{'support' if staff else 'customer'}_{'as_of' if as_of else 'now'}"
                data = work / f"{label}.tsv"
                data.write_text("\n".join(_requests(keys, staff=staff, as_of=as_of, count=4000, customers=customers)))
                target_url = f"{base}/api/contacts/v1/"
                # A recorded check waits for its commit: support needs more requests in flight to
                # fill a group commit than the read-only customer checks need to fill the CPU.
                in_flight = 32 if staff else 16
                # Warm-up (token caches, pools) with as many connections, so every API process
                # gets some: each process verifies each token once. The customers' ~3,300 tokens
                # take each process ~5 s on the route's full path (counted: with 3 s, the first
                # seconds of the measured run still verified tokens); support's one token none.
                warm_up = 3 if staff else 10
                await run_wrk(target_url, script, data, seconds=warm_up, connections=in_flight)
                saturated = await run_wrk(target_url, script, data, seconds=seconds, connections=in_flight)
                figures[f"{label}_max_per_s"] = saturated["rate"]
                figures[f"{label}_max_p99_ms"] = saturated["p99_ms"]
                # Steady: connections each pausing between requests so that together they offer
                # ~70 % of the maximum; the pause is corrected once from the rate actually reached.
                steady = await run_wrk_at_rate(
                    target_url, script, data, 0.7 * saturated["rate"], saturated["p50_ms"], seconds
                )
                figures[f"{label}_steady_per_s"] = steady["rate"]
                figures[f"{label}_steady_p50_ms"] = steady["p50_ms"]
                figures[f"{label}_steady_p99_ms"] = steady["p99_ms"]
                errors = saturated["errors"] + steady["errors"]
                target = TARGET_RATES.get(label)
                if target is not None and saturated["rate"] > target:
                    at_target = await run_wrk_at_rate(target_url, script, data, target, saturated["p50_ms"], seconds)
                    figures[f"{label}_at_target_per_s"] = at_target["rate"]
                    figures[f"{label}_at_target_p50_ms"] = at_target["p50_ms"]
                    figures[f"{label}_at_target_p99_ms"] = at_target["p99_ms"]
                    errors += at_target["errors"]
                figures[f"{label}_errors"] = errors
        figures.update(await _through_gateway(base, work, script, seconds))
        conn = await asyncpg.connect(url)
        try:
            figures["checks_recorded"] = float(
                await conn.fetchval("SELECT count(*) FROM events WHERE event_type = 'AuthorizationChecked'")
            )
        finally:
            await conn.close()
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=20)
        figures.update(await _yardstick(work / "customer_now.tsv", script, seconds))
    finally:
        if proc.returncode is None:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), timeout=20)
        keys.close()
        shutil.rmtree(work, ignore_errors=True)
    return figures


if __name__ == "__main__":
    print(
        json.dumps(
            asyncio.run(
                bench_checks(sys.argv[1], sys.argv[2], customers=int(sys.argv[3]) if len(sys.argv) > 3 else CUSTOMERS)
            ),
            indent=2,
        )
    )
