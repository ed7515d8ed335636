"""structlog configured once: JSON lines with request and correlation ids bound per context.

The HTTP middleware binds `request_id` and `correlation_id` for each request; the consumer
runner binds `correlation_id` and `event_id` for each event it applies. A last processor drops
any field whose name says it is a secret, as a safety net: secrets are never logged on purpose.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Iterator, MutableMapping
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
            foreign_pre_chain=[*shared_processors, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
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
