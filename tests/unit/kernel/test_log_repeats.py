"""The client libraries' repeated complaints (one per connection attempt while a broker or the
database is away) are cut to one line per kind and window, saying how many were dropped."""

from __future__ import annotations

import logging

from shared.logging_setup import RepeatLimiter


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _record(logger: str, msg: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(logger, level, __file__, 1, msg, args, None)


def test_one_line_per_kind_and_window_then_the_count_of_those_dropped() -> None:
    clock = _Clock()
    limiter = RepeatLimiter(window_s=60, clock=clock)
    unable = "Unable connect to node with id %s: %s"

    passed = [limiter.filter(_record("aiokafka.conn", unable, 1, f"refused {i}")) for i in range(100)]
    assert passed == [True] + [False] * 99
    # Another kind (another template, level or logger) has its own allowance.
    assert limiter.filter(_record("aiokafka.cluster", "Unable to update metadata from %s", [1]))
    assert limiter.filter(_record("aiokafka.conn", unable, 1, "refused", level=logging.WARNING))

    clock.now += 59.9
    assert not limiter.filter(_record("aiokafka.conn", unable, 1, "refused"))
    clock.now += 0.2
    after = _record("aiokafka.conn", unable, 1, "refused")
    assert limiter.filter(after)
    assert getattr(after, "repeats_suppressed", None) == 100
    clock.now += 61
    quiet_again = _record("aiokafka.conn", unable, 1, "refused")
    assert limiter.filter(quiet_again)
    assert not hasattr(quiet_again, "repeats_suppressed")


def test_other_loggers_are_never_limited() -> None:
    limiter = RepeatLimiter(clock=_Clock())
    # uvicorn's "Exception in ASGI application" is one template for every different traceback.
    assert all(limiter.filter(_record("uvicorn.error", "Exception in ASGI application")) for _ in range(5))
