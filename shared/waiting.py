"""Waiting on asyncio events with a timeout, the way every runner loop needs it."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_any(*events: asyncio.Event, timeout: float) -> None:
    """Return when any event is set or after `timeout` seconds, whichever comes first."""
    waiters = {asyncio.ensure_future(e.wait()) for e in events}
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


class Backoff:
    """Exponential delay between retries of a failing round, reset by the first success."""

    def __init__(self, first: float = 0.5, limit: float = 10.0) -> None:
        self._first = first
        self._limit = limit
        self._next = first

    def reset(self) -> None:
        self._next = self._first

    async def wait(self, stop: asyncio.Event) -> None:
        await wait_any(stop, timeout=self._next)
        self._next = min(self._limit, self._next * 2)


async def cancel_and_wait(task: asyncio.Task[None] | None) -> None:
    """Stop a background task of a process: cancel it and wait until it has ended."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
