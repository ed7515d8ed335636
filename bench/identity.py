"""Benchmarks of identity: login latency at a steady 30 logins/s, and local token verification.

Logins are hashing-bound by design (argon2id at the production parameters). The figures to
watch are p50/p99 at the offered rate, whether the rate is sustained, and the event loop's
largest stall while it runs: hashes go to a bounded thread pool, so the loop must stay
responsive. Token verification is what every other service does per request: a local EdDSA
check with the keys cached from identity's JWKS (no call to identity).

Self-contained: creates its own database, runs identity in-process (its real app, lifespan and
workers) and talks to it through httpx's ASGI transport.

    python -c "import asyncio, bench.identity as b; print(asyncio.run(b.bench_identity(DSN, KAFKA)))"
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.stats import percentile
from bench.support import fresh_database
from services.identity.adapters import credentials
from services.identity.bootstrap import build_spec
from services.identity.domain import accounts, passwords
from services.identity.handlers import accounts as account_handlers
from services.identity.runtime import EXTRA, IdentityRuntime
from shared.auth.verifier import StaticKeyTokenVerifier, keys_from_jwks
from shared.envelope import Actor, ActorKind, EventContext
from shared.infra.kafka import TopicSpec, ensure_topics
from shared.kafka import topic_for
from shared.logging_setup import configure_logging
from shared.service import create_app
from shared.settings import ServiceSettings

DATABASE = "bench_identity"
CUSTOMERS = 30


async def _customers(identity: IdentityRuntime, count: int) -> list[tuple[str, str]]:
    """Accounts with passwords, set straight in the tables (the reset flow is not measured here)."""
    made = []
    for i in range(count):
        number = str(90_000_000 + i)
        context = EventContext(number, Actor(ActorKind.SYSTEM, "bench"), datetime.now(UTC), uuid.uuid4())
        cmd = accounts.OpenCustomerAccount(number, f"Bench Customer {i}", f"bench{i}@example.org")
        await account_handlers.open_customer_account(identity, cmd, context)
        password = f"bench-{secrets.token_urlsafe(12)}"
        password_hash = await identity.hasher.hash(passwords.normalise(password))
        async with identity.pool.acquire() as conn:
            await credentials.set_password_hash(conn, "customer", number, password_hash, datetime.now(UTC))
        made.append((number, password))
    return made


async def _loop_lag(stop: asyncio.Event, lags: list[float], interval: float = 0.005) -> None:
    """How late the event loop wakes a sleeper: a stalled loop shows as a large lag."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(interval)
        lags.append(time.perf_counter() - started - interval)


async def _logins_at_rate(
    client: httpx.AsyncClient, customers: list[tuple[str, str]], rate: float, seconds: float
) -> tuple[list[float], int, float, list[str]]:
    """Open-loop load: a login starts every 1/rate seconds, whether or not earlier ones finished."""
    latencies: list[float] = []
    tokens: list[str] = []
    failures = 0

    async def one(i: int) -> None:
        nonlocal failures
        number, password = customers[i % len(customers)]
        started = time.perf_counter()
        response = await client.post(
            "/api/identity/v1/sessions", json={"customer_number": number, "password": password}
        )
        latencies.append(time.perf_counter() - started)
        if response.status_code == 201:
            tokens.append(response.json()["access_token"])
        else:
            failures += 1

    tasks = []
    begin = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return latencies, failures, time.perf_counter() - begin, tokens


async def _verifications_per_second(verifier: StaticKeyTokenVerifier, tokens: list[str], seconds: float) -> float:
    """Verifications per second on this one event loop (one core)."""
    count = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for token in tokens:
            await verifier.verify(token)
        count += len(tokens)
    return count / (time.perf_counter() - started)


async def bench_identity(
    pg_server_dsn: str, kafka: str, *, rate: float = 30.0, seconds: float = 10.0
) -> dict[str, float]:
    """Login p50/p99 at `rate` logins/s for `seconds`, loop stalls, and token verifications per second."""
    await ensure_topics(kafka, [TopicSpec(topic_for("identity"), partitions=3)])
    settings = ServiceSettings(
        service="identity",
        database_url=await fresh_database(pg_server_dsn, DATABASE),
        kafka_bootstrap_servers=kafka,
        port=0,
    )
    # In this process (the other suites start their services with their log lines going to files):
    # no access line of every login in the bench's output.
    configure_logging("identity", "WARNING")
    app = create_app(build_spec(), settings)  # production settings: argon2id m=19456 KiB, t=2, p=1
    async with app.router.lifespan_context(app):
        identity: IdentityRuntime = app.state.runtime.extras[EXTRA]
        customers = await _customers(identity, CUSTOMERS)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity.bench", timeout=60) as client:
            await _logins_at_rate(client, customers, rate, 1.0)  # warm-up
            stop, lags = asyncio.Event(), list[float]()
            probe = asyncio.create_task(_loop_lag(stop, lags))
            latencies, failures, elapsed, tokens = await _logins_at_rate(client, customers, rate, seconds)
            stop.set()
            await probe
            jwks: dict[str, Any] = (await client.get("/api/identity/.well-known/jwks.json")).json()
    # What JwksTokenVerifier does once it has fetched the keys: every token checked in full ...
    uncached = StaticKeyTokenVerifier(keys_from_jwks(jwks), cache_size=0)
    # ... and as services run it, remembering verified tokens (a session reuses its token).
    cached = StaticKeyTokenVerifier(keys_from_jwks(jwks))
    return {
        "login_rate_offered_per_s": rate,
        "login_rate_achieved_per_s": len(latencies) / elapsed,
        "login_p50_ms": percentile(latencies, 50) * 1000,
        "login_p99_ms": percentile(latencies, 99) * 1000,
        "login_mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        "login_failures": float(failures),
        "event_loop_lag_p99_ms": percentile(lags, 99) * 1000,
        "event_loop_lag_max_ms": max(lags, default=float("nan")) * 1000,
        "hash_concurrency": float(identity.hasher.concurrency),
        "token_verifications_per_s_full_check": await _verifications_per_second(uncached, tokens, 2.0),
        "token_verifications_per_s_cached": await _verifications_per_second(cached, tokens, 2.0),
    }
