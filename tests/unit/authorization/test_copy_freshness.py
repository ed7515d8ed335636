"""How far behind a copy of contacts.events is, and when support is refused for it (no I/O)."""

from __future__ import annotations

import pytest

from shared.authorization.freshness import CopyFreshness, LagWatch
from shared.errors import TemporarilyRefused


def test_a_copy_at_the_topics_end_is_current() -> None:
    watch = LagWatch()
    watch.observe({0: 5, 1: 0}, {0: 5}, at=10.0)  # partition 1 empty, never consumed
    assert watch.behind_since() is None


def test_behind_since_the_oldest_end_not_reached() -> None:
    watch = LagWatch()
    watch.observe({0: 5}, {0: 3}, at=10.0)
    watch.observe({0: 7}, {0: 4}, at=11.0)
    assert watch.behind_since() == 10.0  # offsets 3 and 4 were seen at 10 and are not all applied
    watch.observe({0: 8}, {0: 5}, at=12.0)
    assert watch.behind_since() == 11.0  # what was there at 10 is applied; 5 and 6 came by 11
    watch.observe({0: 8}, {0: 8}, at=13.0)
    assert watch.behind_since() is None


def test_the_oldest_partition_behind_counts() -> None:
    watch = LagWatch()
    watch.observe({0: 1, 1: 1}, {0: 1}, at=10.0)  # partition 1 never consumed
    watch.observe({0: 2, 1: 1}, {0: 1}, at=20.0)
    assert watch.behind_since() == 10.0
    watch.observe({0: 2, 1: 1}, {0: 1, 1: 1}, at=21.0)
    assert watch.behind_since() == 20.0


def test_a_partition_that_is_gone_is_forgotten() -> None:
    watch = LagWatch()
    watch.observe({0: 3}, {}, at=10.0)
    watch.observe({}, {}, at=11.0)
    assert watch.behind_since() is None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _freshness(clock: Clock) -> CopyFreshness:
    return CopyFreshness(
        None,  # type: ignore[arg-type]  # (no round runs here: observations are fed directly)
        "unused:9092",
        consumer="billing.authorization",
        topic="contacts.events",
        max_lag_s=10,
        client_id="test",
        clock=clock,
    )


def _observe(freshness: CopyFreshness, end: int, applied: int, clock: Clock) -> None:
    freshness.watch.observe({0: end}, {0: applied}, clock.now)
    freshness.checked_at = clock.now


def test_support_is_refused_while_the_copy_is_too_far_behind() -> None:
    clock = Clock()
    freshness = _freshness(clock)
    _observe(freshness, 10, 9, clock)
    clock.now += 10
    _observe(freshness, 10, 9, clock)
    freshness.ensure_current("billing's copy")  # 10 s behind: still within the limit
    clock.now += 1
    _observe(freshness, 12, 9, clock)
    with pytest.raises(TemporarilyRefused) as refused:
        freshness.ensure_current("billing's copy")
    assert "billing's copy is 11 s behind contacts" in refused.value.detail
    assert refused.value.extensions == {"copy_lag_s": 11.0}
    assert refused.value.retry_after_s >= 1
    _observe(freshness, 12, 12, clock)  # caught up
    freshness.ensure_current("billing's copy")
    assert freshness.lag_s() == 0.0


def test_support_is_refused_when_the_copy_cannot_be_checked() -> None:
    clock = Clock()
    freshness = _freshness(clock)
    with pytest.raises(TemporarilyRefused, match="cannot be checked"):
        freshness.ensure_current("domains' copy")  # no round yet
    _observe(freshness, 3, 3, clock)
    clock.now += 10
    freshness.ensure_current("domains' copy")
    clock.now += 0.5  # no round read Kafka and the database for longer than the limit
    assert freshness.lag_s() is None
    with pytest.raises(TemporarilyRefused, match="cannot be checked") as refused:
        freshness.ensure_current("domains' copy")
    assert refused.value.extensions == {"copy_lag_s": None}
