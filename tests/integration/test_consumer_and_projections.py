"""Read models: the Kafka consumer runner and the own-store projection runner, and rebuilds."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from shared import cloudevents
from shared.consumer import KafkaConsumerRunner
from shared.db import Pool
from shared.envelope import RecordedEvent
from shared.eventstore.postgres import PostgresEventStore
from shared.projections import ProjectionRunner
from shared.rebuild import TopicsRead, events_from_store, events_from_topics, rebuild, replace_live_copy
from tests.support.context import context
from tests.support.events import ThingHappened, registry
from tests.support.projections import ThingsProjection
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


async def _write(store: PostgresEventStore, streams: int, per_stream: int) -> list[RecordedEvent]:
    written: list[RecordedEvent] = []
    for s in range(streams):
        for v in range(per_stream):
            written += await store.append(f"t-{s}", v, [ThingHappened(s * 1000 + v)], context(f"30000{s}"))
    return written


async def _publish_raw(kafka: str, topic: str, events: list[RecordedEvent], times: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True)
    await producer.start()
    try:
        for _ in range(times):
            for event in events:
                record = cloudevents.to_kafka("tests", event)
                await producer.send(topic, record.value, key=record.key, headers=record.headers)
        await producer.flush()
    finally:
        await producer.stop()


async def _consume_until(pool: Pool, runner: KafkaConsumerRunner, expected_rows: int, timeout: float = 60) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))

    async def caught_up() -> bool:
        if task.done():
            task.result()  # the runner died: show why
        return bool(await pool.fetchval("SELECT count(*) FROM things") >= expected_rows)

    try:
        await eventually(caught_up, "the consumer to catch up", timeout)
        await asyncio.sleep(0.5)  # give duplicates a chance to (wrongly) apply
    finally:
        stop.set()
        await task


async def _snapshot(pool: Pool) -> list[tuple[object, ...]]:
    rows = await pool.fetch("SELECT * FROM things ORDER BY event_id")
    totals = await pool.fetch("SELECT * FROM thing_totals ORDER BY stream_id")
    return [tuple(r) for r in rows] + [tuple(r) for r in totals]


async def test_events_delivered_twice_are_applied_once_and_rebuild_equals_live(
    pool: Pool, kafka: str, topic: str
) -> None:
    store = PostgresEventStore(pool, registry)
    written = await _write(store, streams=4, per_stream=50)
    await _publish_raw(kafka, topic, written, times=2)
    projection = ThingsProjection(topics=(topic,))
    await pool.execute(projection.ddl)
    runner = KafkaConsumerRunner(pool=pool, bootstrap=kafka, projection=projection, group_id=f"g-{uuid.uuid4()}")
    await _consume_until(pool, runner, 200)

    assert await pool.fetchval("SELECT count(*) FROM things") == 200
    assert await pool.fetchval("SELECT sum(events) FROM thing_totals") == 200

    report = await rebuild(pool, projection, events_from_topics(kafka, [topic]))
    assert report.events == 200
    assert report.identical, report.diffs


async def test_failure_mid_batch_is_rolled_back_and_retried_to_a_single_pass(
    pool: Pool, kafka: str, topic: str
) -> None:
    store = PostgresEventStore(pool, registry)
    written = await _write(store, streams=3, per_stream=40)
    await _publish_raw(kafka, topic, written, times=1)
    failing = ThingsProjection(topics=(topic,), fail_once_after=55)
    await pool.execute(failing.ddl)
    runner = KafkaConsumerRunner(
        pool=pool, bootstrap=kafka, projection=failing, group_id=f"g-{uuid.uuid4()}", max_records=30
    )
    await _consume_until(pool, runner, 120)
    assert failing.failures == 1
    assert len(await _snapshot(pool)) == 120 + 3
    assert await pool.fetchval("SELECT sum(events) FROM thing_totals") == 120

    report = await rebuild(pool, ThingsProjection(), events_from_store(store))
    assert report.identical, report.diffs


async def test_consumer_stopped_mid_stream_and_restarted_applies_each_event_once(
    pool: Pool, kafka: str, topic: str
) -> None:
    store = PostgresEventStore(pool, registry)
    written = await _write(store, streams=4, per_stream=60)
    await _publish_raw(kafka, topic, written, times=1)
    projection = ThingsProjection(topics=(topic,))
    await pool.execute(projection.ddl)
    group = f"g-{uuid.uuid4()}"

    first = KafkaConsumerRunner(pool=pool, bootstrap=kafka, projection=projection, group_id=group, max_records=7)
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))

    async def some_applied() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM things") >= 30)

    await eventually(some_applied, "the first consumer to apply some", timeout=60)
    stop.set()
    await task
    partial = await pool.fetchval("SELECT count(*) FROM things")
    assert 30 <= partial < 240

    # Republish everything once more: the restarted consumer sees duplicates too.
    await _publish_raw(kafka, topic, written, times=1)
    second = KafkaConsumerRunner(pool=pool, bootstrap=kafka, projection=projection, group_id=group)
    await _consume_until(pool, second, 240)
    assert await pool.fetchval("SELECT sum(events) FROM thing_totals") == 240

    report = await rebuild(pool, ThingsProjection(), events_from_store(store))
    assert report.identical, report.diffs


async def test_a_malformed_record_is_skipped_by_the_consumer_and_by_a_rebuild_alike(
    pool: Pool, kafka: str, topic: str
) -> None:
    store = PostgresEventStore(pool, registry)
    first = await _write(store, streams=2, per_stream=10)
    await _publish_raw(kafka, topic, first[:10], times=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka, enable_idempotence=True)
    await producer.start()
    try:  # no CloudEvents headers, no JSON: what a buggy producer could write
        await producer.send_and_wait(topic, b"\x00 not an event", key=b"300000")
    finally:
        await producer.stop()
    await _publish_raw(kafka, topic, first[10:], times=1)
    projection = ThingsProjection(topics=(topic,))
    await pool.execute(projection.ddl)
    runner = KafkaConsumerRunner(pool=pool, bootstrap=kafka, projection=projection, group_id=f"g-{uuid.uuid4()}")
    await _consume_until(pool, runner, 20)  # the partition went on past it

    read = TopicsRead()
    report = await rebuild(pool, projection, events_from_topics(kafka, [topic], read), applied=read.versions)
    assert report.events == 20
    assert report.identical, report.diffs
    assert sum(read.ends.values()) == 21


async def test_a_rebuilt_copy_replaces_the_live_one_as_current_as_it_was(pool: Pool, kafka: str, topic: str) -> None:
    store = PostgresEventStore(pool, registry)
    await _publish_raw(kafka, topic, await _write(store, streams=3, per_stream=30), times=1)
    projection = ThingsProjection(topics=(topic,))
    await pool.execute(projection.ddl)
    group = f"g-{uuid.uuid4()}"
    runner = KafkaConsumerRunner(pool=pool, bootstrap=kafka, projection=projection, group_id=group, max_records=10)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))

    async def rows_for(event_ids: set[uuid.UUID]) -> bool:
        if task.done():
            task.result()  # the runner died: show why
        found = await pool.fetchval("SELECT count(*) FROM things WHERE event_id = ANY($1::uuid[])", list(event_ids))
        return bool(found == len(event_ids))

    async def later_events(first: int) -> list[RecordedEvent]:
        """Five more of stream t-0 (from version `first`) and a new stream's first five."""
        written = []
        for v in range(5):
            written += await store.append("t-0", first + v, [ThingHappened(first + v)], context("300000"))
            written += await store.append(f"t-new-{first}", v, [ThingHappened(v)], context("300009"))
        return written

    try:
        all_ids = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM events")}
        await eventually(lambda: rows_for(all_ids), "the consumer to apply the first events", timeout=60)
        # What a projection's bug would leave: rows lost, a total wrong.
        await pool.execute("DELETE FROM things WHERE stream_id = 't-1' AND stream_version >= 20")
        await pool.execute("UPDATE thing_totals SET total = -1 WHERE stream_id = 't-2'")

        read = TopicsRead()
        report = await rebuild(pool, projection, events_from_topics(kafka, [topic], read), applied=read.versions)
        assert report.events == 90
        assert not report.identical
        # Records the live consumer applies (to the damaged tables) after the rebuild read its topic.
        after_read = await later_events(30)
        await _publish_raw(kafka, topic, after_read, times=1)
        await eventually(lambda: rows_for({e.event_id for e in after_read}), "the consumer to apply them", 60)

        await replace_live_copy(pool, kafka, projection, group, read)
        # The new rows hold them at once: the copy never goes back to the rebuild's point.
        assert await rows_for({e.event_id for e in after_read})
        assert await pool.fetchval("SELECT sum(events) FROM thing_totals") == 100
        await _publish_raw(kafka, topic, await later_events(35), times=1)
        every_id = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM events")}
        await eventually(lambda: rows_for(every_id), "the consumer to apply what came next", timeout=60)
        await asyncio.sleep(1.5)  # give duplicates a chance to (wrongly) apply (and the idle look its turn)
    finally:
        stop.set()
        await task

    assert await pool.fetchval("SELECT count(*) FROM things") == len(every_id) == 110
    assert await pool.fetchval("SELECT sum(events) FROM thing_totals") == 110
    again = await rebuild(pool, projection, events_from_topics(kafka, [topic]))
    assert again.identical, again.diffs
    assert await rebuild(pool, ThingsProjection(), events_from_store(store)) == again


@pytest.mark.parametrize("found_by", ["idle look", "next batch"])
async def test_a_consumer_whose_copy_was_replaced_reads_on_from_the_stored_offsets(
    pool: Pool, kafka: str, topic: str, found_by: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The replacement stores where the consumer goes on; whatever it holds in memory (a batch
    fetched before, its own position) it reads from there, not from where it was."""
    if found_by == "next batch":  # the consumer does not look while idle: a batch must find it out
        monkeypatch.setattr("shared.consumer.REPLACEMENT_LOOK_S", 3600.0)
    store = PostgresEventStore(pool, registry)
    await _publish_raw(kafka, topic, await _write(store, streams=2, per_stream=10), times=1)
    projection = ThingsProjection(topics=(topic,))
    await pool.execute(projection.ddl)
    group = f"g-{uuid.uuid4()}"
    runner = KafkaConsumerRunner(pool=pool, bootstrap=kafka, projection=projection, group_id=group)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await eventually(lambda: _count(pool, 20), "the consumer to apply the first events", timeout=60)
        await asyncio.sleep(0.6)  # idle a moment: its first look is behind it
        # A replacement as an operator's could leave it (an empty copy, offsets back at 0, no
        # stream versions): the consumer must read everything again.
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE consumer_generations SET generation = generation + 1 WHERE consumer = $1", group)
            await conn.execute("TRUNCATE things, thing_totals")
            await conn.execute("DELETE FROM consumer_stream_versions WHERE consumer = $1", group)
            await conn.execute("UPDATE consumer_offsets SET next_offset = 0 WHERE consumer = $1", group)
        if found_by == "next batch":
            await _publish_raw(kafka, topic, await store.append("t-9", 0, [ThingHappened(9)], context("300009")), 1)
        expected = 20 if found_by == "idle look" else 21
        await eventually(lambda: _count(pool, expected), "the consumer to read from the stored offsets", timeout=60)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await task
    assert await pool.fetchval("SELECT sum(events) FROM thing_totals") == expected


async def _count(pool: Pool, rows: int) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM things") == rows)


async def test_projection_runner_follows_own_store_once_even_with_two_runners(pool: Pool) -> None:
    store = PostgresEventStore(pool, registry)
    projection = ThingsProjection()
    await pool.execute(projection.ddl)
    await _write(store, streams=5, per_stream=30)
    runners = [ProjectionRunner(pool=pool, store=store, projection=projection, batch_size=20) for _ in range(2)]
    await asyncio.gather(*(r.catch_up() for r in runners))
    await _write(store, streams=1, per_stream=0)
    assert await pool.fetchval("SELECT count(*) FROM things") == 150

    # Dropped and rebuilt from the store, the read model comes out identical.
    report = await rebuild(pool, projection, events_from_store(store))
    assert report.events == 150
    assert report.identical, report.diffs

    # And a tampered live model is caught by the comparison.
    await pool.execute("UPDATE thing_totals SET total = total + 1 WHERE stream_id = 't-0'")
    report = await rebuild(pool, projection, events_from_store(store))
    assert not report.identical
