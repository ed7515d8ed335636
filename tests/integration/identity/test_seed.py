"""The development seed: creates the demo logins once, prints their passwords only to its output."""

from __future__ import annotations

import io
import re

import pytest

from services.identity import seed
from services.identity.bootstrap import build_spec
from shared.clock import FixedClock
from shared.infra.smtp_sink import SmtpSink
from shared.settings import ServiceSettings
from tests.conftest import create_database
from tests.integration.identity.harness import IdentityHarness, cheap_hasher, now_utc
from tests.support.services import running_service

pytestmark = pytest.mark.integration

LINE = re.compile(r"^\s+(customer number|staff user)\s+(\S+)\s+password\s+(.+)$", re.MULTILINE)


async def test_seed_creates_demo_logins_once(
    pg_server: str, kafka: str, service_topics: object, smtp_sink: SmtpSink
) -> None:
    database_url = await create_database(pg_server)
    settings = ServiceSettings(service="identity", database_url=database_url, kafka_bootstrap_servers=kafka, port=0)

    first = io.StringIO()
    await seed.run(settings, reset_passwords=False, out=first, hasher=cheap_hasher())
    logins = {login: password for _, login, password in LINE.findall(first.getvalue())}
    assert set(logins) == {"100001", "demo-support", "demo-compliance", "demo-admin"}

    again = io.StringIO()
    await seed.run(settings, reset_passwords=False, out=again, hasher=cheap_hasher())
    assert all("unchanged" in p for _, _, p in LINE.findall(again.getvalue()))

    clock = FixedClock(now_utc())
    spec = build_spec(hasher=cheap_hasher())
    async with running_service(spec, database_url, kafka, clock=clock, smtp_port=smtp_sink.port) as (app, client):
        identity = IdentityHarness(app, client, clock, smtp_sink)
        assert (await identity.login("100001", logins["100001"])).status_code == 201
        for role in ("support", "compliance", "admin"):
            response = await client.post(
                "/api/identity/v1/staff-sessions",
                json={"username": f"demo-{role}", "password": logins[f"demo-{role}"]},
            )
            assert response.status_code == 201, response.text
            principal = await identity.runtime.signer.verifier().verify(response.json()["access_token"])
            assert {r.value for r in principal.roles} == {role}
        events = await identity.runtime.pool.fetch("SELECT data::text || metadata::text AS text FROM events")
        assert not [p for p in logins.values() if any(p in e["text"] for e in events)]

    reset = io.StringIO()
    await seed.run(settings, reset_passwords=True, out=reset, hasher=cheap_hasher())
    new_logins = {login: password for _, login, password in LINE.findall(reset.getvalue())}
    assert set(new_logins) == set(logins)
    assert all(new_logins[k] != logins[k] for k in logins)
