"""The outbox relay against real PostgreSQL and a real Kafka broker."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from shared.db import Pool
from shared.eventstore.postgres import PostgresEventStore
from shared.kafka import idempotent_producer
from shared.relay import OutboxRelay
from tests.support.context import context
from tests.support.events import ThingHappened, registry
from tests.support.kafka import header, read_topic

pytestmark = pytest.mark.integration


async def _producer(kafka: str) -> AIOKafkaProducer:
    producer = idempotent_producer(kafka, f"test-{uuid.uuid4().hex[:6]}")
    await producer.start()
    return producer


def _relay(pool: Pool, producer: Any, topic: str, batch_size: int = 500) -> OutboxRelay:
    store = PostgresEventStore(pool, registry)
    return OutboxRelay(service="tests", pool=pool, store=store, producer=producer, topic=topic, batch_size=batch_size)


def _stream_orders(records: list[Any]) -> dict[str, list[int]]:
    per_stream: dict[str, list[int]] = defaultdict(list)
    for r in records:
        per_stream[header(r, "ce_streamid")].append(int(header(r, "ce_streamversion")))
    return per_stream


async def test_late_commit_is_published_once_it_commits_and_nothing_is_skipped(
    pool: Pool, kafka: str, topic: str
) -> None:
    store = PostgresEventStore(pool, registry)
    producer = await _producer(kafka)
    relay = _relay(pool, producer, topic)
    try:
        late_conn = await pool.acquire()
        late_tx = late_conn.transaction()
        await late_tx.start()
        [late] = await store.append("late", 0, [ThingHappened(0)], context("100000"), conn=late_conn)
        later = []
        for i in range(5):
            later += await store.append(f"s-{i}", 0, [ThingHappened(i + 1)], context(f"10000{i + 1}"))

        assert await relay.drain() == 5  # the later commits go out while the early one is open
        await late_tx.commit()
        await pool.release(late_conn)
        assert await relay.drain() == 1  # and the late one once it committed

        records = await read_topic(kafka, topic, at_least=6)
        ids = [header(r, "ce_id") for r in records]
        assert sorted(ids) == sorted(str(e.event_id) for e in [late, *later])
    finally:
        await producer.stop()


async def test_sixteen_writers_with_random_commit_delays_lose_nothing(pool: Pool, kafka: str, topic: str) -> None:
    store = PostgresEventStore(pool, registry)
    producer = await _producer(kafka)
    relay = _relay(pool, producer, topic, batch_size=1000)
    stop = asyncio.Event()
    relay_task = asyncio.create_task(relay.run(stop))
    written: list[str] = []
    rng = random.Random(7)

    async def writer(w: int) -> None:
        versions: defaultdict[str, int] = defaultdict(int)
        for tx_no in range(125):
            stream = f"w{w}-s{tx_no % 4}"
            customer = f"2{w:03d}{tx_no % 4}"
            async with pool.acquire() as conn, conn.transaction():
                recorded = await store.append(
                    stream, versions[stream], [ThingHappened(n) for n in range(5)], context(customer), conn=conn
                )
                await asyncio.sleep(rng.random() * 0.004)  # commit later, out of order with others
            versions[stream] += 5
            written.extend(str(e.event_id) for e in recorded)

    try:
        await asyncio.gather(*(writer(w) for w in range(16)))
        assert len(written) == 10_000
        records = await read_topic(kafka, topic, at_least=10_000, timeout=120)
    finally:
        stop.set()
        await relay_task
        await producer.stop()

    assert sorted(header(r, "ce_id") for r in records) == sorted(written)
    for stream, versions in _stream_orders(records).items():
        assert versions == sorted(versions), f"{stream} out of order"
    keys = {r.key.decode() for r in records}
    assert all(k.startswith("2") for k in keys)


class _CrashingProducer:
    """Passes the first `after` records to Kafka, then dies like a killed process would."""

    def __init__(self, real: AIOKafkaProducer, after: int) -> None:
        self._real = real
        self._left = after

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        if self._left == 0:
            raise RuntimeError("relay process killed")
        self._left -= 1
        return await self._real.send(*args, **kwargs)


async def test_relay_killed_mid_batch_restarts_without_loss(pool: Pool, kafka: str, topic: str) -> None:
    store = PostgresEventStore(pool, registry)
    written = []
    for i in range(30):
        written += await store.append(f"k-{i % 3}", (i // 3) * 10, [ThingHappened(n) for n in range(10)], context())
    producer = await _producer(kafka)
    try:
        crashing = _relay(pool, _CrashingProducer(producer, after=250), topic, batch_size=200)
        with pytest.raises(RuntimeError):
            await crashing.drain()
        await producer.flush()
        fresh = _relay(pool, producer, topic, batch_size=200)
        await fresh.drain()
        records = await read_topic(kafka, topic, at_least=300)
    finally:
        await producer.stop()

    ids = [header(r, "ce_id") for r in records]
    assert set(ids) == {str(e.event_id) for e in written}
    assert len(ids) > 300  # the half-published batch went out again, with the same event ids
    for stream, versions in _stream_orders(records).items():
        deduplicated = list(dict.fromkeys(versions))
        assert deduplicated == sorted(deduplicated), stream


async def test_two_relays_at_once_keep_per_key_order(pool: Pool, kafka: str, topic: str) -> None:
    store = PostgresEventStore(pool, registry)
    producers = [await _producer(kafka), await _producer(kafka)]
    relays = [_relay(pool, p, topic, batch_size=50) for p in producers]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(r.run(stop)) for r in relays]
    written = []
    try:
        for i in range(200):
            written += await store.append(f"two-{i % 5}", i // 5 * 3, [ThingHappened(n) for n in range(3)], context())
        records = await read_topic(kafka, topic, at_least=600)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for p in producers:
            await p.stop()
    assert sorted(header(r, "ce_id") for r in records) == sorted(str(e.event_id) for e in written)
    for stream, versions in _stream_orders(records).items():
        assert versions == sorted(versions), stream


async def test_published_record_is_a_binary_mode_cloudevent(pool: Pool, kafka: str, topic: str) -> None:
    store = PostgresEventStore(pool, registry)
    [event] = await store.append("ce-1", 0, [ThingHappened(42, "x")], context("123456", request_id="r-1"))
    producer = await _producer(kafka)
    try:
        await _relay(pool, producer, topic).drain()
        [record] = await read_topic(kafka, topic, at_least=1)
    finally:
        await producer.stop()
    assert record.key == b"123456"
    assert header(record, "ce_specversion") == "1.0"
    assert header(record, "ce_id") == str(event.event_id)
    assert header(record, "ce_type") == "hosting.accounts.tests.ThingHappened.v1"
    assert header(record, "ce_source") == "/accounts/tests"
    assert header(record, "ce_subject") == "ce-1"
    assert header(record, "content-type") == "application/json"
    assert header(record, "ce_streamversion") == "1"
    assert header(record, "ce_customernumber") == "123456"
    assert header(record, "ce_actorkind") == "staff"
    assert header(record, "ce_correlationid") == str(event.correlation_id)
    assert record.value == b'{"n":42,"note":"x"}'
