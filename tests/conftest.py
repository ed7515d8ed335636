"""Test fixtures: real PostgreSQL and real Kafka, started by the same launcher as `make run`.

The session starts one embedded PostgreSQL and one single-node Kafka broker in a temporary state
directory on free ports (or uses DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS when set). Each test that
needs a database gets a fresh one, and tests that need topics create their own, so tests never
see each other's data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from shared import db
from shared.infra.postgres import new_database

# No per-example time limit: on two shared cores a garbage collection or a busy broker can stretch
# one example past hypothesis' 200 ms and fail a correct test as "flaky". Speed is measured by
# `make bench`, not asserted here.
settings.register_profile("suite", deadline=None)
settings.load_profile("suite")


@pytest.fixture(scope="session")
def state_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="accounts-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(state_dir: Path) -> Iterator[str]:
    if url := os.environ.get("DATABASE_URL"):
        yield url
        return
    from shared.infra.postgres import EmbeddedPostgres
    from shared.infra.processes import free_port

    server = EmbeddedPostgres(state_dir, free_port())
    dsn = server.start()
    yield dsn
    server.stop()


@pytest.fixture(scope="session")
def kafka(state_dir: Path) -> Iterator[str]:
    if bootstrap := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield bootstrap
        return
    from shared.infra.kafka import EmbeddedKafka
    from shared.infra.processes import free_port

    broker = EmbeddedKafka(state_dir, free_port(), free_port())
    bootstrap = broker.start()
    yield bootstrap
    broker.stop()


async def create_database(server_dsn: str) -> str:
    return await new_database(server_dsn, f"test_{uuid.uuid4().hex[:12]}")


async def fresh_database(server_dsn: str) -> str:
    """A new, empty database with the kernel's migrations applied."""
    return await new_database(server_dsn, f"test_{uuid.uuid4().hex[:12]}", kernel_schema=True)


async def fresh_pool(server_dsn: str, max_size: int = 60) -> db.Pool:
    return await db.create_pool(await fresh_database(server_dsn), max_size=max_size)


@pytest.fixture
async def database_url(pg_server: str) -> str:
    return await fresh_database(pg_server)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[db.Pool]:
    pool = await db.create_pool(database_url, max_size=60)
    yield pool
    await pool.close()


@pytest.fixture
async def topic(kafka: str) -> str:
    """A fresh topic with the production topic settings."""
    from shared.infra.kafka import TopicSpec, ensure_topics

    name = f"test-{uuid.uuid4().hex[:10]}.events"
    await ensure_topics(kafka, [TopicSpec(name, partitions=3, configs={"retention.ms": "-1"})])
    return name


@pytest.fixture(scope="session")
async def service_topics(kafka: str) -> list[str]:
    """The four public topics, created as the launcher creates them."""
    from shared.infra.kafka import TopicSpec, ensure_topics
    from shared.kafka import SERVICES, topic_for

    names = [topic_for(s) for s in SERVICES]
    await ensure_topics(kafka, [TopicSpec(n, partitions=3, configs={"retention.ms": "-1"}) for n in names])
    return names
