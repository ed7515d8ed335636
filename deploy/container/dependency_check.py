"""Readiness check of a worker container: does this pod's configuration reach its database and Kafka?

Workers (`python -m services.<name> worker`) serve no HTTP, so their Deployments use this script as
an exec readiness probe: `python /opt/app/dependency_check.py <service>`. It reads the same
environment as the worker (shared.settings), runs `SELECT 1` on the service's database and fetches
the Kafka cluster's metadata, each with a short timeout, and exits 0 when both answer, 1 otherwise
(one line on stderr saying which failed, never the connection string: it carries a password).

Why readiness and not liveness: a separate process can tell whether the pod's *configuration* reaches
the dependencies (a wrong Secret, a missing topic cluster), which is what should stop a rolling
update; it cannot tell whether the worker's own loops are stuck, and restarting a worker because a
dependency is down helps nothing. See docs/architecture.md, "Deployment".
"""

from __future__ import annotations

import asyncio
import sys

import asyncpg
from aiokafka.client import AIOKafkaClient

from shared.kafka_security import client_options
from shared.settings import ServiceSettings

TIMEOUT_S = 4.0


async def _database(settings: ServiceSettings) -> None:
    conn = await asyncpg.connect(settings.database_url, timeout=TIMEOUT_S)
    try:
        await conn.fetchval("SELECT 1", timeout=TIMEOUT_S)
    finally:
        await conn.close(timeout=TIMEOUT_S)


async def _kafka(settings: ServiceSettings) -> None:
    client = AIOKafkaClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"{settings.service}-readiness",
        request_timeout_ms=int(TIMEOUT_S * 1000),
        **client_options(),
    )
    try:
        await asyncio.wait_for(client.bootstrap(), TIMEOUT_S)
    finally:
        await client.close()


async def check(service: str) -> list[str]:
    """The names of the dependencies that did not answer (empty: ready)."""
    settings = ServiceSettings.from_env(service)
    failed: list[str] = []
    for name, probe in (("database", _database), ("kafka", _kafka)):
        try:
            await asyncio.wait_for(probe(settings), TIMEOUT_S + 1)
        except Exception as exc:  # any failure means "not ready"; the type is enough to diagnose
            failed.append(f"{name}: {type(exc).__name__}")
    return failed


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: dependency_check.py <service>", file=sys.stderr)
        return 2
    try:
        failed = asyncio.run(check(argv[0]))
    except RuntimeError as exc:  # settings incomplete (no database URL): not ready, and say why
        print(f"not ready: {exc}", file=sys.stderr)
        return 1
    if failed:
        print("not ready: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
