"""Drop-and-rebuild of read models, and the comparison of a rebuilt model with the live one.

A projection's tables are built again in a scratch schema (the projection's DDL and SQL use
unqualified names, so `search_path` points them there) by feeding it every event from the source:
the service's own store from the start, or a Kafka topic from offset 0 up to the end offsets seen
when the rebuild began. The rebuilt tables are then compared row by row with the live ones.
With `replace=True` the rebuilt tables take the live ones' place in one transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer

from shared import cloudevents
from shared.db import Connection, Pool
from shared.envelope import RecordedEvent
from shared.eventstore.cursor import Cursor
from shared.eventstore.postgres import PostgresEventStore
from shared.kafka import topic_partitions
from shared.projections import Projection


@dataclass
class TableDiff:
    table: str
    only_live: int
    only_rebuilt: int


@dataclass
class RebuildReport:
    projection: str
    events: int
    diffs: list[TableDiff] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return all(d.only_live == 0 and d.only_rebuilt == 0 for d in self.diffs)


async def events_from_store(store: PostgresEventStore, batch_size: int = 5000) -> AsyncIterator[RecordedEvent]:
    cursor = Cursor.start()
    while True:
        batch = await store.read_batch(cursor, batch_size)
        for event in batch.events:
            yield event
        cursor = batch.cursor
        if batch.window_complete and len(batch.events) < batch_size:
            return


async def events_from_topics(bootstrap: str, topics: Sequence[str]) -> AsyncIterator[RecordedEvent]:
    """Every record of the topics from offset 0 to the end offsets as of now (no consumer group)."""
    partitions = await topic_partitions(bootstrap, topics)
    if not partitions:
        return
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        consumer.assign(partitions)
        # Seek before asking for end offsets: the other order leaves aiokafka's fetcher idle.
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < end[tp]:
                        yield cloudevents.from_kafka(record.value, record.headers)
                if records and records[-1].offset + 1 >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()


async def rebuild(
    pool: Pool,
    projection: Projection,
    events: AsyncIterator[RecordedEvent],
    *,
    scratch_schema: str | None = None,
) -> RebuildReport:
    """Build the projection afresh in a scratch schema and compare it with the live tables."""
    schema = scratch_schema or f"rebuild_{projection.name}".replace("-", "_").replace(".", "_")
    report = RebuildReport(projection.name, 0)
    async with pool.acquire() as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        try:
            await conn.execute(projection.ddl)
            applied: dict[str, int] = {}
            async with conn.transaction():
                async for event in events:
                    # The same duplicate rule as the live consumers, kept in memory here.
                    if applied.get(event.stream_id, 0) >= event.stream_version:
                        continue
                    applied[event.stream_id] = event.stream_version
                    await projection.apply(conn, event)
                    report.events += 1
        finally:
            await conn.execute("RESET search_path")
        for table in projection.tables:
            report.diffs.append(await _compare(conn, f'public."{table}"', f'"{schema}"."{table}"', table))
    return report


async def _compare(conn: Connection, live: str, rebuilt: str, table: str) -> TableDiff:
    # Table names come from the projection classes in code, never from input.
    diff = "SELECT count(*) FROM (SELECT * FROM {} EXCEPT ALL SELECT * FROM {}) d"
    only_live = await conn.fetchval(diff.format(live, rebuilt))
    only_rebuilt = await conn.fetchval(diff.format(rebuilt, live))
    return TableDiff(table, int(only_live), int(only_rebuilt))


async def drop_scratch(pool: Pool, projection: Projection) -> None:
    schema = f"rebuild_{projection.name}".replace("-", "_").replace(".", "_")
    await pool.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
