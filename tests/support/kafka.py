"""Reading a whole topic back in tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer

from shared.kafka import topic_partitions


async def read_topic(bootstrap: str, topic: str, *, at_least: int, timeout: float = 60.0) -> list[Any]:
    """Every record of `topic` from offset 0, once at least `at_least` have arrived (or fail)."""
    partitions = await topic_partitions(bootstrap, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    records: list[Any] = []
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while len(records) < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(records)} of {at_least} records arrived on {topic}")
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
        # Anything beyond `at_least` (duplicates) that is already there.
        await asyncio.sleep(0.2)
        for batch in (await consumer.getmany(timeout_ms=200)).values():
            records.extend(batch)
    finally:
        await consumer.stop()
    return records


def header(record: Any, name: str) -> str:
    for key, value in record.headers:
        if key == name:
            return str(value.decode())
    raise KeyError(name)
