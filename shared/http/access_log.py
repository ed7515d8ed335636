"""Which answers get an access log line of their own: every server error and every slow answer, and
the others up to a number of lines per second per route.

At thousands of requests a second (contacts' check, domains' commands) one JSON line per answer
costs more CPU than some answers themselves (~8 µs of a ~55 µs check) and megabytes a second of
logs that say nothing the request metrics do not count. Below the limit every answer is logged,
so a quiet service keeps its full access log; above it, a route's next line carries `unlogged`:
how many of its answers since its previous line had no line of their own. Client errors (4xx)
have an allowance of their own, so a flood of refused requests (guessed tokens, a scanner's 404s)
neither fills the log nor hides the successful answers. Server errors (5xx) and answers slower
than `SLOW_S` are always logged and use up no allowance.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

SLOW_S = 0.5  # an answer this slow is worth its line at any rate
DEFAULT_LINES_PER_S = 100


@dataclass(slots=True)
class _Window:
    started: float
    logged: int = 0
    unlogged: int = 0  # answers without a line since the route's previous line


class AccessLogSampler:
    """`lines_per_s` ≤ 0: every answer is logged."""

    def __init__(self, lines_per_s: int = DEFAULT_LINES_PER_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.lines_per_s = lines_per_s
        self._clock = clock
        self._windows: dict[tuple[str, str, bool], _Window] = {}  # (method, route, client error)

    def admit(self, method: str, route: str, status: int, elapsed: float) -> int | None:
        """None: no line for this answer; else log it, naming this many answers left unlogged before it."""
        if self.lines_per_s <= 0 or status >= 500 or elapsed >= SLOW_S:
            return 0
        now = self._clock()
        key = (method, route, status >= 400)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(now)
        elif now - window.started >= 1.0:
            window.started = now
            window.logged = 0
        if window.logged >= self.lines_per_s:
            window.unlogged += 1
            return None
        window.logged += 1
        unlogged, window.unlogged = window.unlogged, 0
        return unlogged
