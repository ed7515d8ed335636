"""`<SERVICE>_API_PROCESSES=N`: the API served by N uvicorn worker processes on one port."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from shared.infra.processes import free_port
from tests.conftest import create_database
from tests.support.processes import service_process, wait_until

pytestmark = pytest.mark.integration


def _workers(pid: int) -> list[int]:
    """Child processes serving HTTP (multiprocessing's resource tracker is a child too)."""
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [c for c in children if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]


async def test_the_api_runs_in_several_processes_behind_one_port(pg_server: str, kafka: str) -> None:
    port = free_port()
    env = {
        "CONTACTS_DATABASE_URL": await create_database(pg_server),
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "CONTACTS_PORT": str(port),
        "CONTACTS_API_PROCESSES": "2",
        "LOG_LEVEL": "WARNING",
    }
    async with (
        service_process("contacts", "api", env) as process,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client,
    ):

        async def ready() -> bool:
            return (await client.get("/api/contacts/readyz")).status_code == 200

        await wait_until(ready, process, "the API")
        assert len(_workers(process.pid)) == 2
        # Every answer comes from a fully built app (routes, problem handlers) in some worker.
        for _ in range(10):
            r = await client.post(
                "/api/contacts/v1/customers/100001/authorization-checks",
                json={"requester": {"email": "a@example.org"}, "action": "contracts:view"},
            )
            assert r.status_code == 401
            assert r.headers["content-type"] == "application/problem+json"
