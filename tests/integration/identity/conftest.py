"""Fixtures of identity's integration tests: a real SMTP sink, and the service running in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from services.identity.adapters.hashing import SecretHasher
from services.identity.bootstrap import build_spec
from shared.clock import FixedClock
from shared.infra.smtp_sink import SmtpSink
from tests.conftest import create_database
from tests.integration.identity.harness import IdentityHarness, cheap_hasher, now_utc
from tests.support.services import running_service


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def hasher() -> SecretHasher:
    return cheap_hasher()


@pytest.fixture
async def identity(
    pg_server: str, kafka: str, service_topics: object, smtp_sink: SmtpSink, hasher: SecretHasher
) -> AsyncIterator[IdentityHarness]:
    clock = FixedClock(now_utc())
    database_url = await create_database(pg_server)
    spec = build_spec(hasher=hasher)
    async with running_service(
        spec, database_url, kafka, clock=clock, smtp_port=smtp_sink.port, portal_url="https://portal.test"
    ) as (app, client):
        yield IdentityHarness(app, client, clock, smtp_sink)
