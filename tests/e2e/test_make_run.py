"""End to end: the launcher `make run` uses, the whole system behind the gateway, as a user sees it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.running_system import REPO, RunningSystem, running_system

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    with running_system(tmp_path_factory.mktemp("run-state")) as running:
        yield running


def test_every_service_is_ready_through_the_gateway(system: RunningSystem) -> None:
    for service in ("identity", "contacts", "billing", "domains"):
        r = httpx.get(f"{system.gateway}/api/{service}/readyz", timeout=10)
        assert r.status_code == 200, (service, r.text)
        checks = {"database": "ok", "kafka": "ok", "session_revocations": "ok"}
        if service in ("billing", "domains"):  # they act for support on a copy of contacts' authorizations
            checks["authorization_copy"] = "ok"
        assert r.json()["checks"] == checks
        assert "x-request-id" in r.headers


def test_unknown_path_is_a_problem_json_404(system: RunningSystem) -> None:
    r = httpx.get(f"{system.gateway}/not/an/api", timeout=10)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_metrics_are_not_served_to_the_public_but_on_the_service_port(system: RunningSystem) -> None:
    r = httpx.get(f"{system.gateway}/api/contacts/metrics", timeout=10)
    assert r.status_code == 404
    port = system.env["CONTACTS_PORT"]
    direct = httpx.get(f"http://127.0.0.1:{port}/api/contacts/metrics", timeout=10)
    assert direct.status_code == 200
    assert "http_requests_total" in direct.text


def test_demo_customer_adds_a_contact_that_domains_then_knows(system: RunningSystem) -> None:
    auth = system.bearer("customer")
    added = httpx.post(
        f"{system.gateway}/api/contacts/v1/customers/100001/contacts",
        json={"name": "Grace Hopper", "email": "grace@example.org", "phone": "+49 30 1234567"},
        headers=auth,
        timeout=30,
    )
    assert added.status_code == 201, added.text
    contact_id = added.json()["contact_id"]
    deadline = time.monotonic() + 30
    while True:
        seen = httpx.get(f"{system.gateway}/api/domains/v1/customers/100001/contacts", headers=auth, timeout=10)
        assert seen.status_code == 200, seen.text
        if any(c["contact_id"] == contact_id for c in seen.json()["contacts"]):
            break
        assert time.monotonic() < deadline, "the contact never reached domains"
        time.sleep(0.1)

    other = httpx.get(f"{system.gateway}/api/contacts/v1/customers/100002/contacts", headers=auth, timeout=10)
    assert other.status_code == 404  # another tenant: nothing, not even a hint


def test_the_compliance_api_answers_auditors_only(system: RunningSystem) -> None:
    auth = system.bearer("compliance")
    assert httpx.get(f"{system.gateway}/api/compliance/readyz", timeout=10).status_code == 200
    deadline = time.monotonic() + 30
    while True:  # read what was published since the last replay, until the seed's account shows
        replay = httpx.post(f"{system.gateway}/api/compliance/v1/replay", headers=auth, timeout=30)
        assert replay.status_code == 200, replay.text
        timeline = httpx.get(f"{system.gateway}/api/compliance/v1/customers/100001/timeline", headers=auth, timeout=30)
        if timeline.status_code == 200:
            break
        assert timeline.status_code == 404, timeline.text
        assert time.monotonic() < deadline, "the seed's account never reached the compliance replay"
        time.sleep(0.5)
    assert "CustomerAccountOpened" in timeline.text
    anonymous = httpx.get(f"{system.gateway}/api/compliance/v1/replay", timeout=10)
    assert anonymous.status_code == 401


def test_make_replay_reads_what_the_system_published(system: RunningSystem) -> None:
    kafka = f"127.0.0.1:{system.port('kafka')}"
    deadline = time.monotonic() + 30
    while True:  # the seed's account is published by identity's relay moments after the start
        replay = subprocess.run(
            ["make", "-s", "replay"],
            cwd=REPO,
            env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert replay.returncode == 0, replay.stdout + replay.stderr
        if "CustomerAccountOpened" in replay.stdout:
            break
        assert time.monotonic() < deadline, replay.stdout
        time.sleep(0.5)
    assert re.search(r"state hash [0-9a-f]{64}", replay.stdout), replay.stdout
    assert re.search(r"malformed records\W+0\b", replay.stdout), replay.stdout


def test_the_audit_commands_of_the_readme_find_the_running_system(system: RunningSystem) -> None:
    """`rebuild` and `verify` read a service's database: with none configured, make run's."""
    kafka = ["--kafka", f"127.0.0.1:{system.port('kafka')}"]
    for command in (["rebuild", "domains", *kafka], ["verify", "contacts", *kafka]):
        done = subprocess.run(
            [sys.executable, "-m", "shared.audit", *command],
            cwd=REPO,
            env={**system.env, "COLUMNS": "200"},  # (no DATABASE_URL: see running_system)
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "no alteration found" in done.stdout or "equal to live" in done.stdout, done.stdout


def test_a_second_run_says_one_is_running(system: RunningSystem) -> None:
    second = subprocess.run(
        [sys.executable, "-m", "shared.infra.run"],
        cwd=REPO,
        env=system.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode != 0
    assert "already running" in second.stderr + second.stdout


def test_make_passwords_gives_the_seeded_logins_new_ones(system: RunningSystem) -> None:
    path, old = system.login("customer")
    reset = subprocess.run(
        [sys.executable, "-m", "shared.infra.run", "passwords"],
        cwd=REPO,
        env=system.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reset.returncode == 0, reset.stderr
    system.output.extend(reset.stdout.splitlines(keepends=True))
    _, new = system.login("customer")
    assert new["password"] != old["password"]
    assert httpx.post(f"{system.gateway}{path}", json=old, timeout=30).status_code == 401
    assert httpx.post(f"{system.gateway}{path}", json=new, timeout=30).status_code == 201
    assert system.bearer("support")  # the staff users' new passwords work too
