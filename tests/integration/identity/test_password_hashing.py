"""Stored hashes are argon2id, and are upgraded at the next login when the parameters rise."""

from __future__ import annotations

import statistics
import time

import pytest

from services.identity.adapters.hashing import SecretHasher
from services.identity.bootstrap import build_spec
from services.identity.settings import IdentitySettings
from shared.clock import FixedClock
from shared.infra.smtp_sink import SmtpSink
from tests.conftest import create_database
from tests.integration.identity.harness import IdentityHarness, cheap_hasher, new_customer_number, now_utc
from tests.support.services import running_service

pytestmark = pytest.mark.integration


async def test_hash_is_upgraded_to_the_production_parameters_at_login(
    pg_server: str, kafka: str, service_topics: object, smtp_sink: SmtpSink
) -> None:
    database_url = await create_database(pg_server)
    clock = FixedClock(now_utc())

    async with running_service(
        build_spec(hasher=cheap_hasher()), database_url, kafka, clock=clock, smtp_port=smtp_sink.port
    ) as (app, client):
        identity = IdentityHarness(app, client, clock, smtp_sink)
        number, _, password = await identity.customer_with_password()
        query = "SELECT password_hash FROM credentials WHERE subject = $1"
        weak_hash = await identity.runtime.pool.fetchval(query, number)
        assert weak_hash.startswith("$argon2id$v=19$m=256,t=1,p=1$")

    # The same database, restarted with the production defaults (the real cost, once).
    production = SecretHasher(IdentitySettings().argon2_parameters)
    async with running_service(
        build_spec(hasher=production), database_url, kafka, clock=clock, smtp_port=smtp_sink.port
    ) as (app, client):
        identity = IdentityHarness(app, client, clock, smtp_sink)
        assert (await identity.login(number, "not-the-password-at-all")).status_code == 401
        assert await identity.runtime.pool.fetchval(query, number) == weak_hash
        assert (await identity.login(number, password)).status_code == 201
        upgraded = await identity.runtime.pool.fetchval(query, number)
        assert upgraded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert (await identity.login(number, password)).status_code == 201
        assert await identity.runtime.pool.fetchval(query, number) == upgraded

        # Unknown names, accounts without a password and wrong passwords all cost one real hash.
        no_password, _ = await identity.open_account()
        timings: dict[str, list[float]] = {"unknown": [], "unset": [], "wrong": []}
        for _ in range(4):  # fewer than the 5 free failures of an account
            for case, name in (("unknown", new_customer_number()), ("unset", no_password), ("wrong", number)):
                started = time.perf_counter()
                assert (await identity.login(name, "not-the-password-at-all")).status_code == 401
                timings[case].append(time.perf_counter() - started)
        medians = {case: statistics.median(values) for case, values in timings.items()}
        # A path without a hash would be an order of magnitude faster; noise on a shared machine is not.
        assert max(medians.values()) < 3 * min(medians.values()), medians
