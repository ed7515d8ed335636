"""The access log: every error and slow answer, other answers up to a number of lines per second
per route, and the next line saying how many went without one (`shared.http.access_log`)."""

from __future__ import annotations

import structlog

from shared import metrics
from shared.http.access_log import SLOW_S, AccessLogSampler
from shared.http.middleware import RequestMetrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_under_the_limit_every_answer_is_logged() -> None:
    clock = Clock()
    sampler = AccessLogSampler(3, clock)
    assert [sampler.admit("GET", "/a", 200, 0.001) for _ in range(3)] == [0, 0, 0]
    clock.now += 1.0
    assert [sampler.admit("GET", "/a", 200, 0.001) for _ in range(3)] == [0, 0, 0]


def test_above_the_limit_the_next_line_counts_the_answers_without_one() -> None:
    clock = Clock()
    sampler = AccessLogSampler(2, clock)
    admitted = [sampler.admit("POST", "/check", 200, 0.001) for _ in range(7)]
    assert admitted == [0, 0, None, None, None, None, None]
    clock.now += 0.999  # still the same second
    assert sampler.admit("POST", "/check", 200, 0.001) is None
    clock.now += 0.001
    assert sampler.admit("POST", "/check", 200, 0.001) == 6  # the 6 since the previous line
    assert sampler.admit("POST", "/check", 200, 0.001) == 0
    assert sampler.admit("POST", "/check", 200, 0.001) is None


def test_server_errors_and_slow_answers_are_always_logged_and_take_nothing_from_the_allowance() -> None:
    clock = Clock()
    sampler = AccessLogSampler(1, clock)
    assert sampler.admit("POST", "/check", 200, 0.001) == 0
    assert sampler.admit("POST", "/check", 200, 0.001) is None
    for status in (500, 502, 503, 500):
        assert sampler.admit("POST", "/check", status, 0.001) == 0
    assert sampler.admit("POST", "/check", 200, SLOW_S) == 0
    clock.now += 1.0
    assert sampler.admit("POST", "/check", 200, 0.001) == 1  # only the one fast success went unlogged


def test_client_errors_have_an_allowance_of_their_own() -> None:
    clock = Clock()
    sampler = AccessLogSampler(2, clock)
    # A flood of refusals (a guessed token, a scanner) is limited like successes, and counted...
    assert [sampler.admit("POST", "/check", status, 0.001) for status in (401, 404, 401, 422)] == [0, 0, None, None]
    # ...without taking the successful answers' lines
    assert sampler.admit("POST", "/check", 200, 0.001) == 0
    clock.now += 1.0
    assert sampler.admit("POST", "/check", 429, 0.001) == 2


def test_each_route_and_method_has_its_own_allowance() -> None:
    sampler = AccessLogSampler(1, Clock())
    assert sampler.admit("POST", "/check", 200, 0.001) == 0
    assert sampler.admit("POST", "/check", 200, 0.001) is None
    assert sampler.admit("GET", "/check", 200, 0.001) == 0
    assert sampler.admit("POST", "/other", 200, 0.001) == 0


def test_no_limit_logs_every_answer() -> None:
    sampler = AccessLogSampler(0, Clock())
    assert [sampler.admit("GET", "/a", 200, 0.001) for _ in range(1000)] == [0] * 1000


def test_request_metrics_count_every_answer_and_log_the_allowance() -> None:
    request_metrics = RequestMetrics("access-log-test", access_lines_per_s=2)
    clock = Clock()
    request_metrics.access_log = AccessLogSampler(2, clock)
    counter = metrics.HTTP_REQUESTS.labels("access-log-test", "POST", "/x/{n}", "200")
    before = counter._value.get()
    with structlog.testing.capture_logs() as logs:
        for i in range(5):
            request_metrics.observe("POST", "/x/{n}", 200, 0.002, request_id=f"r{i}")
        request_metrics.observe("POST", "/x/{n}", 500, 0.002, request_id="failed")
        clock.now += 1.0
        request_metrics.observe("POST", "/x/{n}", 200, 0.002, request_id="later")
    lines = [entry for entry in logs if entry["event"] == "http_request"]
    assert [(line["request_id"], line["status"], line.get("unlogged")) for line in lines] == [
        ("r0", 200, None),
        ("r1", 200, None),
        ("failed", 500, None),
        ("later", 200, 3),
    ]
    assert counter._value.get() == before + 6  # the metrics count every 200, logged or not
