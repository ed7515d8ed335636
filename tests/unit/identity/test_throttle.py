"""Throttling rules: free failures, progressive delays, the hourly ceiling over a sliding window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.identity.domain import throttle
from services.identity.domain.throttle import Admitted, Throttled, ThrottlePolicy

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLICY = ThrottlePolicy(free_failures=5, limit=100, max_delay=timedelta(seconds=30))


def test_delays_double_after_the_free_failures_up_to_a_cap() -> None:
    delays = [POLICY.delay_after(n).total_seconds() for n in range(1, 13)]
    assert delays == [0, 0, 0, 0, 1, 2, 4, 8, 16, 30, 30, 30]
    assert POLICY.delay_after(10_000) == timedelta(seconds=30)


def test_attempts_are_admitted_and_counted() -> None:
    verdict = throttle.admit([], NOW, POLICY)
    assert verdict == Admitted((NOW,))


def test_attempt_within_the_delay_waits() -> None:
    failures = [NOW - timedelta(seconds=1)] * 4 + [NOW]
    verdict = throttle.admit(failures, NOW, POLICY)
    assert verdict == Throttled(NOW + timedelta(seconds=1), "progressive_delay")
    assert isinstance(throttle.admit(failures, NOW + timedelta(seconds=1), POLICY), Admitted)


def test_the_hourly_ceiling_lifts_when_the_oldest_failure_is_an_hour_old() -> None:
    failures = [NOW - timedelta(minutes=59) + timedelta(seconds=i) for i in range(100)]
    verdict = throttle.admit(failures, NOW, POLICY)
    assert verdict == Throttled(failures[0] + timedelta(hours=1), "hourly_limit")
    assert isinstance(throttle.admit(failures, failures[0] + timedelta(hours=1), POLICY), Admitted)


def test_failures_older_than_the_window_are_forgotten() -> None:
    old = [NOW - timedelta(hours=2)] * 50
    assert throttle.admit(old, NOW, POLICY) == Admitted((NOW,))


def test_thresholds_worth_an_event() -> None:
    assert throttle.crossed_threshold(4, POLICY) is None
    assert throttle.crossed_threshold(5, POLICY) == "progressive_delay"
    assert throttle.crossed_threshold(6, POLICY) is None
    assert throttle.crossed_threshold(100, POLICY) == "hourly_limit"
