"""`GroupWriter`: what waits while a write runs is written together next; each waiter gets its own outcome."""

from __future__ import annotations

import asyncio

import pytest

from shared.group_commit import GroupWriter


async def test_waiters_during_a_write_form_the_next_group_and_get_their_own_outcomes() -> None:
    groups: list[list[int]] = []
    release = asyncio.Event()

    async def write(items: list[int]) -> list[int | Exception]:
        groups.append(items)
        if len(groups) == 1:
            await release.wait()  # the first write is slow: the others queue meanwhile
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    writer: GroupWriter[int, int] = GroupWriter(write, name="test", max_group=3)
    first = asyncio.ensure_future(writer.submit(0))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(writer.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0)
    release.set()
    assert await first == 0
    outcomes = await asyncio.gather(*rest, return_exceptions=True)
    assert groups == [[0], [1, 2, 3], [4, 5]]
    assert [o if isinstance(o, int) else str(o) for o in outcomes] == ["odd 1", 20, "odd 3", 40, "odd 5"]


async def test_a_failed_write_fails_every_waiter_of_its_group_and_a_cancelled_one_is_skipped() -> None:
    release = asyncio.Event()

    async def write(items: list[str]) -> list[str | Exception]:
        await release.wait()
        raise RuntimeError("database gone")

    writer: GroupWriter[str, str] = GroupWriter(write, name="test")
    waiters = [asyncio.ensure_future(writer.submit(x)) for x in "abc"]
    await asyncio.sleep(0)
    waiters[1].cancel()
    release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    for result in (results[0], results[2]):
        assert isinstance(result, RuntimeError)
    with pytest.raises(RuntimeError):
        await writer.submit("d")  # the writer runs again for later requests
