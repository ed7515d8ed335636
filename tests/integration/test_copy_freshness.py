"""`CopyFreshness` against real Kafka and PostgreSQL: the topic's end offsets against the offsets
a copy stored in `consumer_offsets` (the services' tests hold a real consumer back; this one
moves the stored offsets by hand, and points the watcher at a Kafka that is not there)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from shared import db
from shared.authorization.freshness import CopyFreshness
from shared.errors import TemporarilyRefused
from tests.support.waiting import until

pytestmark = pytest.mark.integration

CONSUMER = "test.authorization"
MAX_LAG_S = 0.5


@pytest.fixture
async def watched(pool: db.Pool, kafka: str, topic: str) -> AsyncIterator[CopyFreshness]:
    freshness = CopyFreshness(
        pool, kafka, consumer=CONSUMER, topic=topic, max_lag_s=MAX_LAG_S, client_id="test-freshness", every_s=0.1
    )
    freshness.start()
    yield freshness
    await freshness.stop()


async def _store(pool: db.Pool, topic: str, partition: int, next_offset: int) -> None:
    await pool.execute(
        "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
        CONSUMER,
        topic,
        partition,
        next_offset,
    )


async def test_a_copy_behind_the_topic_is_refused_until_it_catches_up(
    watched: CopyFreshness, pool: db.Pool, kafka: str, topic: str
) -> None:
    await until(lambda: watched.checked_at is not None, "the first round")
    await watched.ready()
    watched.ensure_current("the test copy")  # an empty topic: nothing to be behind
    assert watched.lag_s() == 0.0

    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        for i in range(3):
            await producer.send_and_wait(topic, b"x", key=b"k", partition=0)
            await _store(pool, topic, 0, i + 1)  # the copy keeps up
        await asyncio.sleep(3 * MAX_LAG_S)
        watched.ensure_current("the test copy")
        await producer.send_and_wait(topic, b"y", key=b"k", partition=0)  # not applied
        await producer.send_and_wait(topic, b"z", key=b"k", partition=2)  # a partition never consumed
    finally:
        await producer.stop()

    await until(lambda: (watched.lag_s() or 0) > MAX_LAG_S, "the lag to pass the limit")
    with pytest.raises(TemporarilyRefused, match=r"the test copy is \d+ s behind contacts") as refused:
        watched.ensure_current("the test copy")
    assert refused.value.retry_after_s >= 1
    await _store(pool, topic, 0, 4)  # partition 0 caught up; partition 2 still behind
    await asyncio.sleep(0.3)
    assert (watched.lag_s() or 0) > MAX_LAG_S
    await _store(pool, topic, 2, 1)
    await until(lambda: watched.lag_s() == 0.0, "the copy to be current again")
    watched.ensure_current("the test copy")


async def test_a_copy_that_cannot_be_checked_is_refused(pool: db.Pool) -> None:
    freshness = CopyFreshness(
        pool,
        "127.0.0.1:1",  # nothing listens there
        consumer=CONSUMER,
        topic="contacts.events",
        max_lag_s=MAX_LAG_S,
        client_id="test-freshness",
        every_s=0.1,
    )
    freshness.start()
    try:
        await asyncio.sleep(3 * MAX_LAG_S)
        with pytest.raises(RuntimeError):
            await freshness.ready()
        with pytest.raises(TemporarilyRefused, match="cannot be checked against contacts"):
            freshness.ensure_current("the test copy")
    finally:
        await freshness.stop()
