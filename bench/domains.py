"""Benchmark of domains' commands over real HTTP, and of how fast a revocation reaches domains.

The whole path runs as separate processes, as in production: contacts' worker (its relay
publishes contacts.events), domains' worker (relay, the contracts projection, and the Kafka
consumers that build domains' own authorization model and customer list) and domains' API
(`python -m services.domains api`: uvicorn, one process) verifying EdDSA tokens against a JWKS
served from this process.

Seed (fresh databases, customer numbers new for every run, since the topics keep what earlier
runs published): CUSTOMERS customers announced on identity.events as identity would; each has one
contact holding a grant for dns:change and mailboxes:manage (appended to contacts' store, relayed
by contacts' worker) and DOMAINS_EACH domains registered through the API.

Load comes from `wrk` (C, one thread; on the same two cores it still takes ~15-20 µs of CPU
per request, measured, far less than a Python client would) cycling through
pre-built commands, each of which records one event: a new e-mail vhost or a new redirect on a
random domain, half by the account owner, half by support on behalf of the granted contact (the
authorization decision on domains' own read model included).

* saturation: closed loop, as fast as the server answers -> commands/s;
* steady: connections pausing between requests, at min(2,000/s, 70 % of saturation) -> p50/p99;
* target: the same at the issue's 2,000/s (the pause corrected once from a first run's rate),
  whatever the saturation -> p50/p99.

Propagation: a grant is revoked in contacts' store (committed), then a support request on the
contact's behalf is repeated until domains refuses it; the time from the commit to the first 403
(p50/p99 over PROPAGATION_TRIALS, once idle and once under the steady load).

    python -m bench.domains DSN KAFKA
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
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from bench.stats import percentile
from bench.support import (
    WRK_LUA_TAIL,
    IdentityStandIn,
    fresh_database,
    run_wrk,
    run_wrk_at_rate,
    spawn_service,
    wait_ready,
)
from services.contacts.domain.events import ContactAdded, ContactAuthorizationRevoked, ContactAuthorized
from services.contacts.domain.events import registry as contacts_registry
from shared import cloudevents, db
from shared.authorization.contract import GrantBasis
from shared.envelope import Actor, ActorKind, EventContext, RecordedEvent
from shared.eventstore.postgres import PostgresEventStore
from shared.infra.processes import free_port
from shared.kafka import topic_for
from shared.scopes import Scope

CUSTOMERS = 200
DOMAINS_EACH = 5
PROPAGATION_TRIALS = 40
TARGET_RATE = 2000
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")

_LUA = (
    r"""
-- Cycles through pre-built commands ("method\tpath\ttoken\ton-behalf-of\tbody" per line).
local requests = {}
local i = 0
local pause = tonumber(os.getenv("BENCH_PAUSE_MS") or "0")

function init(args)
  local n = 0
  for line in io.lines(args[1]) do
    local method, path, token, behalf, body = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)\t(.+)")
    local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
    if behalf ~= "-" then headers["On-Behalf-Of"] = behalf end
    n = n + 1
    requests[n] = wrk.format(method, path, headers, body)
  end
  i = math.random(n)
end
"""
    + WRK_LUA_TAIL
)


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_S  # utime + stime


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process on the machine."""
    found: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        found[int(entry.name)] = (parent, command)
    return found


class _CpuMeter:
    """CPU seconds of each part of the stack (the bench's own processes with their children, this
    run's PostgreSQL backends, the Kafka broker) between `start` and `stop`: wall-clock rates are
    noisy on a shared machine, CPU per command much less so. The broker is shared with whatever
    else runs, so its figure is an upper bound."""

    def __init__(self, parts: dict[str, int], databases: list[str], server_dsn: str) -> None:
        self._parts = parts
        self._databases = databases
        self._server_dsn = server_dsn
        self._before: dict[str, dict[int, float]] = {}

    async def _resolve(self) -> dict[str, list[int]]:
        table = _processes()
        groups: dict[str, list[int]] = {}
        for name, root in self._parts.items():
            pids, frontier = [root], [root]
            while frontier:
                frontier = [pid for pid, (parent, _) in table.items() if parent in frontier]
                pids += frontier
            groups[name] = pids
        conn = await asyncpg.connect(self._server_dsn)
        try:
            rows = await conn.fetch(
                "SELECT pid, application_name FROM pg_stat_activity WHERE datname = ANY($1)", self._databases
            )
        finally:
            await conn.close()
        # Backends by the process they serve (each process names itself in its database URL).
        for row in rows:
            groups.setdefault(f"postgres_{row['application_name'] or 'other'}", []).append(row["pid"])
        groups["kafka"] = [pid for pid, (_, command) in table.items() if "kafka.Kafka" in command]
        return groups

    def _read(self, groups: dict[str, list[int]]) -> dict[str, dict[int, float]]:
        return {name: {pid: _cpu_seconds(pid) for pid in pids} for name, pids in groups.items()}

    async def start(self) -> None:
        self._before = self._read(await self._resolve())

    async def per_command_ms(self, commands: float) -> dict[str, float]:
        """CPU per command of each part; processes started meanwhile (new backends) count whole."""
        after = self._read(await self._resolve())
        figures = {}
        for name, now in after.items():
            then = self._before.get(name, {})
            figures[f"cpu_ms_per_command_{name}"] = (
                1000 * sum(t - then.get(pid, 0.0) for pid, t in now.items()) / commands
            )
        figures["cpu_ms_per_command_total"] = sum(figures.values())
        return figures


class _World:
    """This run's customers, contacts, grants and domains."""

    def __init__(self, customers: int) -> None:
        if customers <= 2 * PROPAGATION_TRIALS:
            raise ValueError(f"need more than {2 * PROPAGATION_TRIALS} customers")
        self.run = uuid.uuid4().hex[:6]
        base = random.randrange(10**9, 8 * 10**9)
        self.customers = [str(base + i) for i in range(customers)]
        self.contacts = {n: uuid.uuid4() for n in self.customers}
        self.grants = {n: uuid.uuid4() for n in self.customers}
        self.domains = {
            n: [f"b{self.run}-{i}-{j}.de" for j in range(DOMAINS_EACH)] for i, n in enumerate(self.customers)
        }

    def split(self, trials: int) -> tuple[list[str], list[str]]:
        """(customers whose grants get revoked by the propagation trials, customers under load)."""
        return self.customers[: 2 * trials], self.customers[2 * trials :]

    def email(self, n: str) -> str:
        return f"contact-{n}@example.org"


async def _announce_customers(kafka: str, world: _World) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, linger_ms=5)
    await producer.start()
    try:
        for n in world.customers:
            event = RecordedEvent(
                uuid.uuid4(), "CustomerAccountOpened", 1, f"customer-account-{n}", 1, n, datetime.now(UTC),
                Actor(ActorKind.SYSTEM, "identity"), uuid.uuid4(), None,
                {"customer_number": n, "name": f"Bench {n}", "reference_email": f"owner-{n}@example.org"},
            )  # fmt: skip
            record = cloudevents.to_kafka("identity", event)
            await producer.send(topic_for("identity"), record.value, key=record.key, headers=record.headers)
        await producer.flush()
    finally:
        await producer.stop()


def _context(n: str) -> EventContext:
    return EventContext(n, Actor(ActorKind.CUSTOMER, n), datetime.now(UTC), uuid.uuid4(), metadata={"bench": True})


async def _seed_contacts(store: PostgresEventStore, world: _World) -> None:
    scopes = (Scope.CHANGE_DNS, Scope.MANAGE_MAILBOXES)

    async def one(n: str) -> None:
        contact, grant = world.contacts[n], world.grants[n]
        by, basis = f"customer:{n}", GrantBasis.PORTAL_ACCOUNT_OWNER
        events = [
            ContactAdded(contact, f"Contact {n}", world.email(n), None, None, None),
            ContactAuthorized(grant, contact, scopes, datetime.now(UTC), None, by, basis),
        ]
        await store.append(f"customer-contacts-{n}", 0, events, _context(n))

    for i in range(0, len(world.customers), 20):
        await asyncio.gather(*(one(n) for n in world.customers[i : i + 20]))


async def _revoke(store: PostgresEventStore, world: _World, n: str) -> float:
    """Revoke the contact's grant in contacts' store; returns the instant of the commit."""
    event = ContactAuthorizationRevoked(
        world.grants[n], world.contacts[n], "bench", f"customer:{n}", GrantBasis.PORTAL_ACCOUNT_OWNER
    )
    await store.append(f"customer-contacts-{n}", 2, [event], _context(n))
    return time.perf_counter()


async def _wait_for(url: str, sql: str, expected: int, what: str, timeout: float = 300.0) -> None:
    # (300 s: the seed's grants once took over 120 s to reach domains in a whole `make bench`.)
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = await asyncpg.connect(url)
            try:
                if (await conn.fetchval(sql) or 0) >= expected:
                    return
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def _register_domains(base: str, keys: IdentityStandIn, world: _World) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def one(n: str) -> None:
            headers = {"Authorization": f"Bearer {keys.customer_token(n)}"}
            for name in world.domains[n]:
                r = await client.post(f"/api/domains/v1/customers/{n}/domains", json={"name": name}, headers=headers)
                if r.status_code != 201:
                    raise RuntimeError(f"registration failed: {r.status_code} {r.text[:300]}")

        for i in range(0, len(world.customers), 8):
            await asyncio.gather(*(one(n) for n in world.customers[i : i + 8]))


def _commands(keys: IdentityStandIn, world: _World, customers: list[str], count: int, label: str) -> list[str]:
    """Each line one command that records one event (a new vhost or a new redirect)."""
    rng = random.Random(label)
    support = keys.support_token()
    owners = {n: keys.customer_token(n) for n in customers}
    lines = []
    for k in range(count):
        n = rng.choice(customers)
        domain = rng.choice(world.domains[n])
        host = f"{label}{k}.{domain}"
        by_support = k % 2 == 1
        token = support if by_support else owners[n]
        behalf = f"email:{world.email(n)}" if by_support else "-"
        base = f"/api/domains/v1/customers/{n}/domains/{domain}"
        if k % 4 < 2:
            lines.append(f"POST\t{base}/vhosts\t{token}\t{behalf}\t{json.dumps({'name': host})}")
        else:
            body = json.dumps({"target_url": f"https://target.example/{k}"})
            lines.append(f"PUT\t{base}/redirects/{host}\t{token}\t{behalf}\t{body}")
    return lines


async def _propagation(
    base: str, keys: IdentityStandIn, world: _World, store: PostgresEventStore, victims: list[str]
) -> list[float]:
    """Per victim: revoke in contacts, then repeat the contact's request until domains refuses it."""
    support = keys.support_token()
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for n in victims:
            domain = world.domains[n][0]
            path = f"/api/domains/v1/customers/{n}/domains/{domain}/redirects/probe.{domain}"
            headers = {"Authorization": f"Bearer {support}", "On-Behalf-Of": f"email:{world.email(n)}"}
            body = {"target_url": "https://probe.example/"}
            first = await client.put(path, json=body, headers=headers)
            if first.status_code != 200:
                raise RuntimeError(f"probe before revocation: {first.status_code} {first.text[:200]}")
            committed = await _revoke(store, world, n)
            deadline = time.monotonic() + 10
            while True:
                r = await client.put(path, json=body, headers=headers)
                if r.status_code == 403:
                    latencies.append(time.perf_counter() - committed)
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the revocation never reached domains")
    return latencies


async def bench_domains(
    pg_server_dsn: str, kafka: str, *, customers: int = CUSTOMERS, seconds: int = 10
) -> dict[str, float]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    world = _World(customers)
    contacts_url = await fresh_database(pg_server_dsn, "bench_dom_contacts")
    domains_url = await fresh_database(pg_server_dsn, "bench_dom_domains")
    keys = IdentityStandIn()
    port = free_port()
    env = {**os.environ, "CONTACTS_DATABASE_URL": contacts_url, "DOMAINS_DATABASE_URL": domains_url,
           "KAFKA_BOOTSTRAP_SERVERS": kafka, "DOMAINS_PORT": str(port), "IDENTITY_JWKS_URL": keys.jwks_url,
           "DB_POOL_SIZE": "10"}  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="bench-domains-"))
    script = work / "commands.lua"
    script.write_text(_LUA)

    def named(url: str, name: str) -> str:
        return f"{url}{'&' if '?' in url else '?'}application_name={name}"

    processes = [
        await spawn_service(
            "contacts", "worker", {**env, "CONTACTS_DATABASE_URL": named(contacts_url, "for_contacts_worker")}
        ),
        await spawn_service(
            "domains", "worker", {**env, "DOMAINS_DATABASE_URL": named(domains_url, "for_domains_worker")}
        ),
    ]
    figures: dict[str, float] = {}
    pool = None
    try:
        api = await spawn_service("domains", "api", {**env, "DOMAINS_DATABASE_URL": named(domains_url, "for_api")})
        processes.append(api)
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base, "domains", api)
        await _wait_for(contacts_url, "SELECT count(*) FROM schema_migrations", 1, "contacts' worker")
        pool = await db.create_pool(contacts_url, max_size=20)
        store = PostgresEventStore(pool, contacts_registry)
        started = time.perf_counter()
        await _announce_customers(kafka, world)
        await _seed_contacts(store, world)
        numbers = ",".join(f"'{n}'" for n in world.customers)
        await _wait_for(
            domains_url, f"SELECT count(*) FROM customer_accounts WHERE customer_number IN ({numbers})",  # noqa: S608
            len(world.customers), "customers reaching domains",
        )  # fmt: skip
        await _wait_for(
            domains_url, f"SELECT count(*) FROM authz_grants WHERE customer_number IN ({numbers})",  # noqa: S608
            len(world.customers), "grants reaching domains",
        )  # fmt: skip
        await _register_domains(base, keys, world)
        figures["seed_s"] = time.perf_counter() - started
        figures["domains"] = float(customers * DOMAINS_EACH)

        target = f"{base}/api/domains/v1/"
        victims, loaded = world.split(PROPAGATION_TRIALS)
        for label in ("warm", "max", "steady", "probe", "target", "retry"):
            count = 4000 if label == "warm" else 40000
            (work / f"{label}.tsv").write_text("\n".join(_commands(keys, world, loaded, count, label)))
        await run_wrk(target, script, work / "warm.tsv", seconds=2, connections=4)
        meter = _CpuMeter(
            {"api": api.pid, "domains_worker": processes[1].pid, "contacts_worker": processes[0].pid},
            ["bench_dom_contacts", "bench_dom_domains"],
            pg_server_dsn,
        )
        await meter.start()
        saturated = await run_wrk(target, script, work / "max.tsv", seconds=seconds, connections=8)
        figures.update(await meter.per_command_ms(saturated["requests"]))
        figures["commands_max_per_s"] = saturated["rate"]
        figures["commands_max_p99_ms"] = saturated["p99_ms"]
        connections = 8
        rate = min(TARGET_RATE, 0.7 * saturated["rate"])
        # Each connection waits `pause` after its answer: rate ~ connections / (pause + latency).
        pause = max(1, round(connections * 1000 / rate - saturated["p50_ms"] * 0.5))
        steady_task = asyncio.create_task(
            run_wrk(target, script, work / "steady.tsv", seconds=seconds, connections=connections, pause_ms=pause)
        )
        await asyncio.sleep(1)
        under_load = await _propagation(base, keys, world, store, victims[:PROPAGATION_TRIALS])
        steady = await steady_task
        figures["commands_steady_per_s"] = steady["rate"]
        figures["commands_steady_p50_ms"] = steady["p50_ms"]
        figures["commands_steady_p99_ms"] = steady["p99_ms"]
        figures["command_errors"] = saturated["errors"] + steady["errors"]
        figures["propagation_under_load_p50_ms"] = percentile(under_load, 50) * 1000
        figures["propagation_under_load_p99_ms"] = percentile(under_load, 99) * 1000
        idle = await _propagation(base, keys, world, store, victims[PROPAGATION_TRIALS:])
        figures["propagation_idle_p50_ms"] = percentile(idle, 50) * 1000
        figures["propagation_idle_p99_ms"] = percentile(idle, 99) * 1000
        at_target = await run_wrk_at_rate(
            target, script, work / "target.tsv", TARGET_RATE, steady["p50_ms"], seconds,
            probe_data=work / "probe.tsv", retry_data=work / "retry.tsv",
        )  # fmt: skip
        figures["commands_at_target_per_s"] = at_target["rate"]
        figures["commands_at_target_p50_ms"] = at_target["p50_ms"]
        figures["commands_at_target_p99_ms"] = at_target["p99_ms"]
        figures["command_errors"] += at_target["errors"]
        conn = await asyncpg.connect(domains_url)
        try:
            figures["events_recorded"] = float(await conn.fetchval("SELECT count(*) FROM events"))
        finally:
            await conn.close()
    finally:
        if pool is not None:
            await pool.close()
        for proc in processes:
            if proc.returncode is None:
                proc.terminate()
        for proc in processes:
            await asyncio.wait_for(proc.wait(), timeout=20)
        keys.close()
        shutil.rmtree(work, ignore_errors=True)
    return figures


if __name__ == "__main__":
    print(json.dumps(asyncio.run(bench_domains(sys.argv[1], sys.argv[2])), indent=2))
