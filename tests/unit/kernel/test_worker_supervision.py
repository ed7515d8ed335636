"""Background loops under `Workers.supervise`: one that fails, or ends before it was told to, is
logged, counted and started again; `close` ends them all."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from aiokafka.errors import KafkaConnectionError
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from shared.service import Runtime, Workers
from tests.support.waiting import eventually


def _restarts(loop: str) -> float:
    return REGISTRY.get_sample_value("worker_loop_restarts_total", {"service": "unit", "loop": loop}) or 0.0


def _workers() -> Workers:
    return Workers(cast(Runtime, SimpleNamespace(spec=SimpleNamespace(name="unit"))))


async def test_a_loop_that_fails_or_ends_early_is_started_again_and_counted() -> None:
    workers = _workers()
    runs: dict[str, int] = {"failing": 0, "ending": 0}
    before = {name: _restarts(name) for name in runs}

    async def failing(stop: asyncio.Event) -> None:
        runs["failing"] += 1
        if runs["failing"] == 1:
            raise ConnectionResetError("the database went away")
        await stop.wait()

    async def ending(stop: asyncio.Event) -> None:
        runs["ending"] += 1
        if runs["ending"] == 1:
            return
        await stop.wait()

    workers.supervise("failing", failing)
    workers.supervise("ending", ending)

    async def both_running_again() -> Any:
        return runs == {"failing": 2, "ending": 2} or None

    await eventually(both_running_again, "both loops started again", timeout=5)
    assert workers.alive()
    assert {name: _restarts(name) - before[name] for name in runs} == {"failing": 1, "ending": 1}

    await workers.close()
    assert runs == {"failing": 2, "ending": 2}  # stopped, not started a third time
    assert not workers.alive()


async def test_a_dependency_away_is_logged_without_a_traceback_and_a_bug_with_one() -> None:
    workers = _workers()
    failures = iter(
        [KafkaConnectionError("Unable to bootstrap"), ConnectionRefusedError(111, "refused"), KeyError("x")]
    )
    runs = [0]

    async def loop(stop: asyncio.Event) -> None:
        runs[0] += 1
        failure = next(failures, None)
        if failure is not None:
            raise failure
        await stop.wait()

    with capture_logs() as logs:
        workers.supervise("kafka-using", loop)

        async def running_again() -> Any:
            return runs[0] == 4 or None

        await eventually(running_again, "the loop started a fourth time", timeout=10)
        await workers.close()
    seen = [
        (line["event"], line["log_level"], "exc_info" in line)
        for line in logs
        if line["event"].startswith("worker_loop")
    ]
    assert seen == [
        ("worker_loop_waiting", "warning", False),
        ("worker_loop_waiting", "warning", False),
        ("worker_loop_failed", "error", True),
    ]
