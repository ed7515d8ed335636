"""The worker's exec readiness probe (deploy/container/dependency_check.py), run as the kubelet would."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.deploy.rendering import REPO

SCRIPT = REPO / "deploy" / "container" / "dependency_check.py"


def probe(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # Only what a worker container has: its settings from the environment, the project importable.
    clean = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**clean, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_not_ready_when_nothing_answers_and_says_which_without_the_password() -> None:
    result = probe(
        "billing",
        BILLING_DATABASE_URL="postgresql://billing:s3cret-pw@127.0.0.1:9/accounts_billing",
        KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9",
    )
    assert result.returncode == 1
    assert "database:" in result.stderr
    assert "kafka:" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout


def test_not_ready_without_a_database_url() -> None:
    result = probe("billing", KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9")
    assert result.returncode == 1
    assert "BILLING_DATABASE_URL" in result.stderr


def test_usage_error_is_not_mistaken_for_not_ready() -> None:
    assert probe().returncode == 2


@pytest.mark.integration
def test_ready_when_postgres_and_kafka_answer(pg_server: str, kafka: str) -> None:
    result = probe("contacts", CONTACTS_DATABASE_URL=pg_server, KAFKA_BOOTSTRAP_SERVERS=kafka)
    assert result.returncode == 0, result.stderr
