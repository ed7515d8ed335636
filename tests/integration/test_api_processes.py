"""`<SERVICE>_API_PROCESSES=N`: the API served by N processes on one port, connections dealt in turn."""

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
from tests.support.processes import ROOT, service_process, wait_until

pytestmark = pytest.mark.integration


def _api_processes(pid: int) -> list[int]:
    """Child processes serving HTTP (multiprocessing's resource tracker is a child too)."""
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [c for c in children if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]


def _established_on(port: int) -> set[str]:
    """Socket inodes of established TCP connections whose local port is `port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
            inodes.add(fields[9])
    return inodes


def _sockets_of(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


async def _two_processes_env(pg_server: str, kafka: str, port: int) -> dict[str, str]:
    return {
        "CONTACTS_DATABASE_URL": await create_database(pg_server),
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "CONTACTS_PORT": str(port),
        "CONTACTS_API_PROCESSES": "2",
        "LOG_LEVEL": "WARNING",
    }


async def _ready(port: int) -> bool:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        return (await client.get("/api/contacts/readyz")).status_code == 200


async def _serving(supervisor: asyncio.subprocess.Process, port: int) -> list[int]:
    """Once the API answers: its two API processes."""
    await wait_until(lambda: _ready(port), supervisor, "the API")
    processes = _api_processes(supervisor.pid)
    assert len(processes) == 2
    return processes


async def test_the_api_runs_in_several_processes_that_share_connections(pg_server: str, kafka: str) -> None:
    port = free_port()
    async with service_process("contacts", "api", await _two_processes_env(pg_server, kafka, port)) as supervisor:
        processes = await _serving(supervisor, port)

        # 24 kept-alive connections, each answered by a fully built app (routes, problem handlers).
        clients = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) for _ in range(24)]
        try:
            for client in clients:
                r = await client.post(
                    "/api/contacts/v1/customers/100001/authorization-checks",
                    json={"requester": {"email": "a@example.org"}, "action": "contracts:view"},
                )
                assert r.status_code == 401
                assert r.headers["content-type"] == "application/problem+json"
            # The supervisor deals connections in turn: each process holds exactly half.
            established = _established_on(port)
            held = [len(_sockets_of(pid) & established) for pid in processes]
            assert held == [12, 12], held
        finally:
            for client in clients:
                await client.aclose()

        # A process that dies is replaced, and the API keeps answering meanwhile: new
        # connections go to the one left (none is handed to the dead one and lost).
        os.kill(processes[0], signal.SIGKILL)
        for _ in range(6):
            assert await _ready(port)

        async def replaced() -> bool:
            now = _api_processes(supervisor.pid)
            return len(now) == 2 and processes[0] not in now and await _ready(port)

        await wait_until(replaced, supervisor, "the replacement", timeout=60)
        assert processes[1] in _api_processes(supervisor.pid)
    # (leaving service_process: SIGTERM to the supervisor, which must stop all and exit 0)


def _exited(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # (a zombie: exited, not yet reaped by whoever adopted it)


async def test_api_processes_stop_when_their_supervisor_is_gone(pg_server: str, kafka: str) -> None:
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **await _two_processes_env(pg_server, kafka, port)}
    # (not `service_process`: it expects a clean exit, and this supervisor is killed)
    supervisor = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.contacts", "api", cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL
    )
    processes: list[int] = []
    try:
        processes = await _serving(supervisor, port)
        # Killed, it cannot stop them: each sees its hand-off socket close, and exits by itself.
        supervisor.kill()
        await supervisor.wait()
        deadline = time.monotonic() + 30
        while not all(_exited(pid) for pid in processes):
            assert time.monotonic() < deadline, "API processes outlived their supervisor"
            await asyncio.sleep(0.2)
    finally:
        if supervisor.returncode is None:
            supervisor.kill()
            await supervisor.wait()
        for pid in processes:
            if not _exited(pid):
                os.kill(pid, signal.SIGKILL)
