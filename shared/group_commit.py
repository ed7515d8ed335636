"""Group commit: requests that arrive while a write is under way are written together next.

A commit costs a WAL flush (and the store's commit-time NOTIFY, which PostgreSQL serialises), so
writes that each wait for their own commit are bounded by the commit rate. A `GroupWriter` keeps
one writer task, running only while something waits: it takes up to `max_group` waiting items,
writes them with the caller's `write` (one transaction, as the caller sees fit) and hands each
waiter the outcome of its own item, a value or an exception. A waiter answered only after the
commit can say "recorded". A waiter that went away (cancelled) is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Per item, in order: its result, or the exception its waiter gets.
WriteGroup = Callable[[list[T]], Awaitable[Sequence[R | Exception]]]


class GroupWriter(Generic[T, R]):
    def __init__(self, write: WriteGroup[T, R], *, name: str, max_group: int = 100) -> None:
        self._write = write
        self._name = name
        self._max_group = max_group
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name=self._name)
        return await future

    async def _drain(self) -> None:
        while self._pending:
            group, self._pending = self._pending[: self._max_group], self._pending[self._max_group :]
            outcomes: Sequence[R | Exception]
            try:
                outcomes = await self._write([item for item, _ in group])
            except Exception as exc:  # every waiter gets the failure, none hangs
                outcomes = [exc] * len(group)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
