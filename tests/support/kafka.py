"""Publishing to and reading back from the real topics in tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer

from shared import cloudevents
from shared.envelope import Actor, ActorKind, RecordedEvent
from shared.kafka import idempotent_producer, topic_for, topic_partitions

IDENTITY = Actor(ActorKind.SYSTEM, "identity")


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


def find_header(record: Any, name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return str(value.decode())
    return None


async def records_until(bootstrap: str, topic: str, event_ids: Collection[str], *, timeout: float = 30.0) -> list[Any]:
    """Every record of `topic` from offset 0, read until all `event_ids` (ce_id) have arrived."""
    partitions = await topic_partitions(bootstrap, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    records: list[Any] = []
    missing = set(event_ids)
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while missing:
            assert time.monotonic() < deadline, f"{len(missing)} of {len(event_ids)} events never arrived on {topic}"
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for record in batch:
                    records.append(record)
                    missing.discard(find_header(record, "ce_id") or "")
    finally:
        await consumer.stop()
    return records


async def publish(bootstrap: str, service: str, event: RecordedEvent) -> None:
    """Put one event on `<service>.events` exactly as that service's relay would (its producer, its
    record; with the security settings of the environment, as every client)."""
    producer = idempotent_producer(bootstrap, f"{service}-relay")
    await producer.start()
    try:
        record = cloudevents.to_kafka(service, event)
        await producer.send_and_wait(topic_for(service), record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()


async def announce_customer(
    bootstrap: str,
    customer: str,
    reference_email: str,
    *,
    name: str = "Acme GmbH",
    occurred_at: datetime | None = None,
    actor: Actor = IDENTITY,
) -> None:
    """What identity publishes when a customer account is opened."""
    data = {"customer_number": customer, "name": name, "reference_email": reference_email}
    event = first_event("CustomerAccountOpened", f"customer-account-{customer}", customer, data, actor, occurred_at)
    await publish(bootstrap, "identity", event)


def first_event(
    event_type: str,
    stream_id: str,
    customer: str,
    data: dict[str, Any],
    actor: Actor,
    occurred_at: datetime | None = None,
) -> RecordedEvent:
    """A version 1 event, the first of its stream, with fresh ids (as a service would record it)."""
    return RecordedEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        schema_version=1,
        stream_id=stream_id,
        stream_version=1,
        customer_number=customer,
        occurred_at=occurred_at or datetime.now(UTC),
        actor=actor,
        correlation_id=uuid.uuid4(),
        causation_id=None,
        data=data,
    )
