"""`<SERVICE>_API_PROCESSES=N`: the API served by N uvicorn worker processes on one port."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared.infra.processes import free_port
from tests.conftest import create_database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _workers(pid: int) -> list[int]:
    """Child processes serving HTTP (multiprocessing's resource tracker is a child too)."""
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [c for c in children if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]


async def test_the_api_runs_in_several_processes_behind_one_port(pg_server: str, kafka: str) -> None:
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CONTACTS_DATABASE_URL": await create_database(pg_server),
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "CONTACTS_PORT": str(port),
        "CONTACTS_API_PROCESSES": "2",
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.contacts", "api", cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 90
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            while True:
                assert process.returncode is None, "the API exited"
                try:
                    if (await client.get("/api/contacts/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the API did not come up"
                await asyncio.sleep(0.3)
            assert len(_workers(process.pid)) == 2
            # Every answer comes from a fully built app (routes, problem handlers) in some worker.
            for _ in range(10):
                r = await client.post(
                    "/api/contacts/v1/customers/100001/authorization-checks",
                    json={"requester": {"email": "a@example.org"}, "action": "contracts:view"},
                )
                assert r.status_code == 401
                assert r.headers["content-type"] == "application/problem+json"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=40) == 0
