"""`make bench`: start (or reuse) the infrastructure, run every benchmark, print the figures.

Figures depend on the machine: record them with date and machine in docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import kernel
from bench.support import SERVICE_LOGS

REPO = Path(__file__).resolve().parents[1]
STATE = REPO / ".state" / "bench"


def _start_infra() -> tuple[str, str, Callable[[], None]]:
    from shared.infra.kafka import EmbeddedKafka, TopicSpec, ensure_topics
    from shared.infra.postgres import EmbeddedPostgres
    from shared.kafka import SERVICES, topic_for

    if os.environ.get("DATABASE_URL") and os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return os.environ["DATABASE_URL"], os.environ["KAFKA_BOOTSTRAP_SERVERS"], lambda: None
    STATE.mkdir(parents=True, exist_ok=True)
    pg = EmbeddedPostgres(STATE, 25432)
    broker = EmbeddedKafka(STATE, 29092, 29093)
    dsn = pg.start()
    bootstrap = broker.start()
    asyncio.run(ensure_topics(bootstrap, [TopicSpec(topic_for(s)) for s in SERVICES]))

    def stop() -> None:
        broker.stop()
        pg.stop()

    return dsn, bootstrap, stop


def _print(section: str, figures: dict[str, float]) -> None:
    print(f"\n== {section}")
    for key, value in figures.items():
        print(f"  {key:<28} {value:>12,.2f}")
    sys.stdout.flush()


async def _run(dsn: str, bootstrap: str, only: set[str]) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    suites: list[tuple[str, Callable[[], Awaitable[dict[str, float]]]]] = [
        ("store appends (8 writers)", lambda: kernel.bench_appends(dsn)),
        ("relay into Kafka (100k backlog)", lambda: kernel.bench_relay(dsn, bootstrap)),
        ("propagation contacts -> domains @500/s", lambda: kernel.bench_propagation(dsn, bootstrap)),
        ("identity logins @30/s and token verification", lambda: _identity(dsn, bootstrap)),
        ("contacts authorization checks", lambda: _contacts(dsn, bootstrap)),
        ("domains commands and revocation propagation", lambda: _domains(dsn, bootstrap)),
        ("audit replay, verification, rebuild", lambda: _audit(dsn, bootstrap)),
    ]
    for name, suite in suites:
        if only and not any(word in name for word in only):
            continue
        started = time.perf_counter()
        results[name] = await suite()
        results[name]["bench_seconds"] = time.perf_counter() - started
        _print(name, results[name])
    return results


async def _identity(dsn: str, bootstrap: str) -> dict[str, float]:
    from bench.identity import bench_identity

    return await bench_identity(dsn, bootstrap)


async def _contacts(dsn: str, bootstrap: str) -> dict[str, float]:
    from bench.contacts import bench_checks

    return await bench_checks(dsn, bootstrap)


async def _domains(dsn: str, bootstrap: str) -> dict[str, float]:
    from bench.domains import bench_domains

    return await bench_domains(dsn, bootstrap)


async def _audit(dsn: str, bootstrap: str) -> dict[str, float]:
    from bench.audit import bench_audit

    return await bench_audit(dsn, bootstrap)


def _cpu() -> str:
    """The host's CPU as the VM sees it: figures from different hosts differ by tens of percent."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    mips = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("bogomips")), "?")
    return f"{model}, BogoMIPS {mips}"


def main() -> None:
    only = set(sys.argv[1:])
    print(f"bench on {platform.node()} ({os.cpu_count()} cores, {_cpu()}), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    shutil.rmtree(SERVICE_LOGS, ignore_errors=True)  # a run's service logs replace the last run's
    dsn, bootstrap, stop = _start_infra()
    try:
        results = asyncio.run(_run(dsn, bootstrap, only))
    finally:
        stop()
    out = STATE / "results.json"
    out.write_text(json.dumps({"at": datetime.now(UTC).isoformat(), "cpu": _cpu(), "results": results}, indent=2))
    print(f"\nfigures saved to {out}")


if __name__ == "__main__":
    main()
