"""Benchmarks of the kernel: store appends, relay throughput, commit-to-read-model propagation."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.stats import percentile
from bench.support import fresh_database, spawn_service
from services.contacts.domain.events import ContactAdded
from services.contacts.domain.events import registry as contacts_registry
from shared import db
from shared.envelope import Actor, ActorKind, EventContext
from shared.eventstore.postgres import PostgresEventStore
from shared.kafka import idempotent_producer
from shared.relay import OutboxRelay
from tests.support.events import ThingHappened, registry

REPO = Path(__file__).resolve().parents[1]


async def _until_in_domains(watcher: asyncpg.Connection[asyncpg.Record], customers: str, count: int) -> None:
    """Until domains' copy holds `count` contacts of the customers LIKE `customers`."""
    deadline = time.monotonic() + 60
    sql = "SELECT count(*) FROM authz_contacts WHERE customer_number LIKE $1"
    while await watcher.fetchval(sql, customers) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the warm-up commands did not reach domains within a minute")
        await asyncio.sleep(0.01)


def _contact(i: int) -> ContactAdded:
    return ContactAdded(uuid.uuid4(), f"Bench {i}", f"b{i}@example.org", None, None, None)


def _context(customer: str) -> EventContext:
    return EventContext(
        customer_number=customer,
        actor=Actor(ActorKind.SYSTEM, "bench"),
        occurred_at=datetime.now(UTC),
        correlation_id=uuid.uuid4(),
    )


async def bench_appends(server_dsn: str, *, writers: int = 8, seconds: float = 5.0) -> dict[str, float]:
    """Single-event appends from `writers` concurrent writers, each to its own streams."""
    url = await fresh_database(server_dsn, "bench_appends", kernel_schema=True)
    pool = await db.create_pool(url, min_size=writers, max_size=writers)
    store = PostgresEventStore(pool, registry)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def writer(w: int) -> None:
        version = 0
        head: bytes | None = None
        ctx = _context(f"9{w:05d}")
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            [event] = await store.append(f"bench-{w}", version, [ThingHappened(version)], ctx, previous_hash=head)
            latencies.append(time.perf_counter() - started)
            head = event.chain_hash
            version += 1

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    elapsed = time.perf_counter() - started

    batch_events = 0
    batch_deadline = time.perf_counter() + seconds

    async def batch_writer(w: int) -> None:
        nonlocal batch_events
        version = 0
        head: bytes | None = None
        ctx = _context(f"8{w:05d}")
        events = [ThingHappened(n) for n in range(100)]
        while time.perf_counter() < batch_deadline:
            recorded = await store.append(f"batch-{w}", version, events, ctx, previous_hash=head)
            head = recorded[-1].chain_hash
            version += 100
            batch_events += 100

    batch_started = time.perf_counter()
    await asyncio.gather(*(batch_writer(w) for w in range(writers)))
    batch_elapsed = time.perf_counter() - batch_started
    await pool.close()
    return {
        "single_events_per_s": len(latencies) / elapsed,
        "single_p50_ms": percentile(latencies, 50) * 1000,
        "single_p99_ms": percentile(latencies, 99) * 1000,
        "batched_events_per_s": batch_events / batch_elapsed,
    }


async def bench_relay(server_dsn: str, kafka: str, *, events: int = 100_000) -> dict[str, float]:
    """Time for the relay to publish a backlog of `events` committed events to Kafka."""
    from shared.infra.kafka import TopicSpec, ensure_topics

    url = await fresh_database(server_dsn, "bench_relay", kernel_schema=True)
    pool = await db.create_pool(url, max_size=8)
    store = PostgresEventStore(pool, registry)
    batch = [ThingHappened(n) for n in range(100)]
    writes = [
        store.append(f"relay-{i % 500}", (i // 500) * 100, batch, _context(f"7{i % 500:05d}"))
        for i in range(events // 100)
    ]
    for chunk in range(0, len(writes), 8):
        await asyncio.gather(*writes[chunk : chunk + 8])
    topic = f"bench-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka, [TopicSpec(topic, partitions=3, configs={"retention.ms": "-1"})])
    producer = idempotent_producer(kafka, "bench-relay")
    await producer.start()
    relay = OutboxRelay(service="bench", pool=pool, store=store, producer=producer, topic=topic, batch_size=5000)
    started = time.perf_counter()
    published = await relay.drain()
    elapsed = time.perf_counter() - started
    await producer.stop()
    await pool.close()
    return {"relay_events": float(published), "relay_events_per_s": published / elapsed}


async def bench_propagation(server_dsn: str, kafka: str, *, rate: int = 500, seconds: float = 10.0) -> dict[str, float]:
    """Commit in contacts -> visible in domains' read model, with contacts' relay and domains'
    consumer running as real worker processes, under a steady `rate` of commands per second."""
    # The workers migrate their own databases, as they do in production.
    contacts_url = await fresh_database(server_dsn, "bench_contacts")
    domains_url = await fresh_database(server_dsn, "bench_domains")
    env = {
        **os.environ,
        "CONTACTS_DATABASE_URL": contacts_url,
        "DOMAINS_DATABASE_URL": domains_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
    }
    workers = [await spawn_service(name, "worker", env) for name in ("contacts", "domains")]
    try:
        return await _drive_propagation(contacts_url, domains_url, rate, seconds)
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            await asyncio.wait_for(proc.wait(), timeout=20)


async def _drive_propagation(contacts_url: str, domains_url: str, rate: int, seconds: float) -> dict[str, float]:
    # Wait until both workers have migrated their databases and the consumer is polling.
    deadline = time.monotonic() + 60
    while True:
        try:
            probe = await asyncpg.connect(domains_url)
            if await probe.fetchval("SELECT to_regclass('authz_contacts')") is not None:
                await probe.close()
                break
            await probe.close()
        except (OSError, asyncpg.PostgresError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("domains worker did not start")
        await asyncio.sleep(0.2)
    pool = await db.create_pool(contacts_url, max_size=16)
    watcher = await asyncpg.connect(domains_url)
    store = PostgresEventStore(pool, contacts_registry)
    # Warm-up: until a command's contact shows up in domains, the consumer may still be joining its
    # group, reading through earlier runs' events on the bench's topic (its database is new), and
    # the relay's producer fetching metadata. That first command is timed on its own; then a second
    # of commands at the rate is sent and awaited, so that the timed run is the steady state.
    started = time.perf_counter()
    await store.append("customer-contacts-49999999", 0, [_contact(0)], _context("49999999"))
    await _until_in_domains(watcher, "49999999", 1)
    cold_start_s = time.perf_counter() - started
    for i in range(rate):
        await store.append(f"customer-contacts-4{i:07d}", 0, [_contact(i)], _context(f"4{i:07d}"))
        await asyncio.sleep(1 / rate)
    await _until_in_domains(watcher, "4%", rate + 1)
    committed: dict[str, float] = {}
    visible: dict[str, float] = {}
    total = int(rate * seconds)
    done_sending = asyncio.Event()

    async def command(i: int) -> None:
        customer = f"5{i:07d}"
        await store.append(f"customer-contacts-{customer}", 0, [_contact(i)], _context(customer))
        committed[customer] = time.perf_counter()

    async def sender() -> None:
        start = time.perf_counter()
        tasks = []
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(command(i)))
        await asyncio.gather(*tasks)
        done_sending.set()

    async def watch() -> None:
        end = time.monotonic() + seconds + 30
        while len(visible) < total and time.monotonic() < end:
            pending = [c for c in committed if c not in visible]
            if pending:
                rows = await watcher.fetch(
                    "SELECT customer_number FROM authz_contacts WHERE customer_number = ANY($1)", pending
                )
                now = time.perf_counter()
                for r in rows:
                    visible.setdefault(r["customer_number"], now)
            await asyncio.sleep(0.001)

    await asyncio.gather(sender(), watch())
    await pool.close()
    await watcher.close()
    latencies = [visible[c] - committed[c] for c in visible if c in committed]
    return {
        "commands": float(total),
        "visible": float(len(visible)),
        "propagation_p50_ms": percentile(latencies, 50) * 1000,
        "propagation_p99_ms": percentile(latencies, 99) * 1000,
        "propagation_first_ms": cold_start_s * 1000,
    }
