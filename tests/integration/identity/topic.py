"""Reading identity.events back from Kafka in tests (the topic is shared by the whole test session)."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from aiokafka import AIOKafkaConsumer

from shared.kafka import topic_for, topic_partitions

TOPIC = topic_for("identity")


def header(record: Any, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return str(value.decode())
    return None


async def records_with_ids(bootstrap: str, event_ids: Collection[str], *, timeout: float = 30.0) -> list[Any]:
    """Every record of identity.events from offset 0, once all `event_ids` have arrived."""
    partitions = await topic_partitions(bootstrap, [TOPIC])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    records: list[Any] = []
    missing = set(event_ids)
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while missing:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(missing)} of {len(event_ids)} events never arrived on {TOPIC}")
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for record in batch:
                    records.append(record)
                    missing.discard(header(record, "ce_id") or "")
    finally:
        await consumer.stop()
    return records
