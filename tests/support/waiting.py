"""Waiting in tests for something that happens asynchronously (a consumer, a relay, a worker)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = 30.0) -> T:
    """Poll `probe` until it returns something other than None/False."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """`eventually` for a plain condition on state the test reads directly."""

    async def probe() -> bool:
        return condition()

    await eventually(probe, what, timeout)
