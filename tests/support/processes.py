"""A service started as its own process (`python -m services.<name> <mode>`), as in production."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def service_process(service: str, mode: str, env: Mapping[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """The process with `env` (and PATH) only; on leaving it gets SIGTERM and must exit cleanly."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", f"services.{service}", mode, cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=40) == 0


async def wait_until(
    ready: Callable[[], Awaitable[bool]], process: asyncio.subprocess.Process, what: str, timeout: float = 90
) -> None:
    """Poll `ready` (connection errors count as not yet) while the process lives."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.returncode is None, f"{what} exited"
        try:
            if await ready():
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{what} did not come up"
        await asyncio.sleep(0.3)
