"""structlog configured once: JSON lines with request and correlation ids bound per context.

The HTTP middleware binds `request_id` and `correlation_id` for each request; the consumer
runner binds `correlation_id` and `event_id` for each event it applies. A last processor drops
any field whose name says it is a secret, as a safety net: secrets are never logged on purpose.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import orjson
import structlog

from shared.envelope import RecordedEvent

_SECRET_MARKERS = ("password", "secret", "token", "otp", "one_time", "hash", "credential", "authorization")


@functools.lru_cache(maxsize=4096)
def _names_a_secret(key: str) -> bool:
    # Log keys are a small fixed set of names in code: decided once per name, not per line.
    lowered = key.lower()
    return any(marker in lowered for marker in _SECRET_MARKERS)


def _drop_secrets(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event_dict:
        if _names_a_secret(key):
            event_dict[key] = "[redacted]"
    return event_dict


class RepeatLimiter(logging.Filter):
    """At most one line per message per `window_s` from the client libraries' loggers.

    While PostgreSQL or Kafka is away, aiokafka and asyncpg's pool log the same complaint for every
    connection attempt: some 80 lines a second per process, which would bury everything else. The
    first line of a kind passes; the next one after the window passes with `repeats_suppressed`,
    how many were dropped meanwhile. A kind is the logger, the level and the message's template
    (not its arguments, which name the node or the error of each attempt)."""

    def __init__(
        self,
        loggers: tuple[str, ...] = ("aiokafka", "asyncpg"),
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._loggers = loggers
        self._window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # kind -> (passed at, dropped)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._loggers):
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            passed_at, dropped = self._seen.get(kind, (None, 0))
            if passed_at is not None and now - passed_at < self._window_s:
                self._seen[kind] = (passed_at, dropped + 1)
                return False
            self._seen[kind] = (now, 0)
        if dropped:
            record.repeats_suppressed = dropped
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    # Libraries that log through the standard library (aiokafka, uvicorn) come out as JSON too.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                *shared_processors,
                structlog.stdlib.add_logger_name,
                structlog.stdlib.ExtraAdder(allow=["repeats_suppressed"]),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    handler.addFilter(RepeatLimiter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka narrates every rebalance at INFO; our runners log what matters themselves.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        # orjson straight to stdout's bytes: a third of the cost of json + print on the access log.
        processors=[
            *shared_processors,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.BytesLoggerFactory(),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


@contextmanager
def bound_event(event: RecordedEvent) -> Iterator[None]:
    with structlog.contextvars.bound_contextvars(
        correlation_id=str(event.correlation_id), event_id=str(event.event_id)
    ):
        yield
