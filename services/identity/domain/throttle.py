"""Login throttling: progressive delays after repeated failures, and an hourly ceiling.

Each throttling key (an account, a client address) keeps the times of its failures in the last
hour (a sliding window). After `free_failures` of them every further attempt must wait
`base_delay * 2^(n - free_failures)` (capped at `max_delay`) after the latest failure; at `limit`
failures in the window, attempts wait until the oldest leaves the window. A real owner is at
worst delayed, never locked out for good.

For an account, attempts are counted *before* the password is checked (a success then clears
the count), so racing attempts cannot slip past the limit while their hashes are computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


@dataclass(frozen=True)
class ThrottlePolicy:
    free_failures: int
    limit: int
    base_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(seconds=30)
    window: timedelta = timedelta(hours=1)

    def delay_after(self, failures: int) -> timedelta:
        if failures < self.free_failures:
            return timedelta(0)
        exponent = min(failures - self.free_failures, 20)  # 2^20 s is far past any sane max_delay
        return min(self.base_delay * (1 << exponent), self.max_delay)


@dataclass(frozen=True)
class Admitted:
    """The attempt may go ahead; `failures` includes it (kept if it fails)."""

    failures: tuple[datetime, ...]


@dataclass(frozen=True)
class Throttled:
    until: datetime
    reason: Literal["progressive_delay", "hourly_limit"]


def in_window(failures: Sequence[datetime], now: datetime, policy: ThrottlePolicy) -> tuple[datetime, ...]:
    return tuple(sorted(t for t in failures if now - t < policy.window))


def admit(failures: Sequence[datetime], now: datetime, policy: ThrottlePolicy) -> Admitted | Throttled:
    recent = in_window(failures, now, policy)
    if len(recent) >= policy.limit:
        return Throttled(recent[len(recent) - policy.limit] + policy.window, "hourly_limit")
    if recent:
        allowed_at = recent[-1] + policy.delay_after(len(recent))
        if now < allowed_at:
            return Throttled(allowed_at, "progressive_delay")
    return Admitted((*recent, now))


def crossed_threshold(failures: int, policy: ThrottlePolicy) -> Literal["progressive_delay", "hourly_limit"] | None:
    """Which threshold a failure count reaches exactly (the moment worth an AccountThrottled event)."""
    if failures == policy.limit:
        return "hourly_limit"
    if failures == policy.free_failures:
        return "progressive_delay"
    return None
