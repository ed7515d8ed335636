"""Drop-and-rebuild of read models, and the comparison of a rebuilt model with the live one.

A projection's tables are built again in a scratch schema (the projection's DDL and SQL use
unqualified names, so `search_path` points them there) by feeding it every event from the source:
the service's own store as of one snapshot (`PostgresEventStore.scan`, only the projection's
`event_types` when it names them), or a Kafka topic from offset 0 up to the end offsets seen when
the rebuild began (`TopicsRead` keeps how far). Nobody reads the scratch tables meanwhile, so a
projection that can fold its tables in memory (`BulkProjection`) does so and its final rows are
copied in with `COPY`; others get one `apply` per event. The rebuilt tables are then compared row
by row with the live ones (EXCEPT ALL both ways), which is also the proof that a bulk fold equals
the per-event SQL. A rebuilt model can then be put in place of the live one (`replace_live`,
`replace_live_copy`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.consumer import apply_once, event_of, stored_offsets
from shared.db import Connection, Pool
from shared.envelope import RecordedEvent
from shared.eventstore.cursor import Cursor
from shared.eventstore.positions import lock_cursor, save_cursor
from shared.eventstore.postgres import PostgresEventStore
from shared.kafka import topic_partitions
from shared.kafka_security import client_options
from shared.projections import BulkProjection, Projection, apply_batch, runner_reader


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


async def events_from_store(
    store: PostgresEventStore,
    batch_size: int = 5000,
    *,
    event_types: Collection[str] | None = None,
    on_snapshot: Callable[[str], None] | None = None,
) -> AsyncGenerator[RecordedEvent, None]:
    """Every event committed when the read began (of `event_types` only, if given), in one snapshot
    (told to `on_snapshot`: `replace_live` continues the live runner from it)."""
    scan = store.scan(event_types=event_types, page=batch_size, on_snapshot=on_snapshot)
    async with contextlib.aclosing(scan) as pages:
        async for page in pages:
            for event in page:
                yield event


@dataclass
class TopicsRead:
    """How far a rebuild from topics read: each partition up to `ends` (exclusive), and the last
    version of each stream it applied (the consumers' duplicate rule). A live consumer carries on
    from there once the rebuilt copy is in place (`replace_live_copy`)."""

    ends: dict[TopicPartition, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)


async def events_from_topics(
    bootstrap: str, topics: Sequence[str], read: TopicsRead | None = None
) -> AsyncIterator[RecordedEvent]:
    """Every record of the topics from offset 0 to the end offsets as of now (no consumer group);
    the end offsets go into `read`."""
    partitions = await topic_partitions(bootstrap, topics)
    if not partitions:
        return
    async with _reading(bootstrap, partitions) as consumer:
        # Seek before asking for end offsets: the other order leaves aiokafka's fetcher idle.
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        if read is not None:
            read.ends.update(end)
        async for event in _records_until(consumer, end):
            yield event


async def _records_between(
    bootstrap: str, ranges: dict[TopicPartition, tuple[int, int]]
) -> AsyncIterator[RecordedEvent]:
    """The records of each partition from the first offset of its range to the second (exclusive)."""
    wanted = {tp: span for tp, span in ranges.items() if span[0] < span[1]}
    if not wanted:
        return
    async with _reading(bootstrap, list(wanted)) as consumer:
        for tp, (first, _) in wanted.items():
            consumer.seek(tp, first)
        async for event in _records_until(consumer, {tp: end for tp, (_, end) in wanted.items()}):
            yield event


@contextlib.asynccontextmanager
async def _reading(bootstrap: str, partitions: list[TopicPartition]) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None, **client_options()
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        yield consumer
    finally:
        await consumer.stop()


async def _records_until(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> AsyncIterator[RecordedEvent]:
    remaining = {tp for tp, offset in end.items() if offset > 0}
    while remaining:
        batches = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
        for tp, records in batches.items():
            for record in records:
                if record.offset < end[tp]:
                    event = event_of(record, tp.topic, tp.partition, "rebuild_record_malformed")
                    if event is not None:
                        yield event
            if records and records[-1].offset + 1 >= end[tp]:
                remaining.discard(tp)


async def rebuild(
    pool: Pool,
    projection: Projection,
    events: AsyncIterator[RecordedEvent],
    *,
    scratch_schema: str | None = None,
    bulk: bool = True,
    applied: dict[str, int] | None = None,
) -> RebuildReport:
    """Build the projection afresh in a scratch schema and compare it with the live tables.

    A `BulkProjection` (unless `bulk=False`) folds every event in memory and its final rows are
    copied into the scratch tables; any other projection gets one `apply` per event. `applied`
    is filled with the last version of each stream applied (`TopicsRead.versions`).
    """
    schema = scratch_schema or scratch_schema_of(projection)
    report = RebuildReport(projection.name, 0)
    fold = projection.bulk_fold() if bulk and isinstance(projection, BulkProjection) else None
    async with pool.acquire() as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}"')
        try:
            await conn.execute(projection.ddl)
            # The same duplicate rule as the live consumers, kept in memory here.
            applied = {} if applied is None else applied
            async with conn.transaction():
                async for event in events:
                    if applied.get(event.stream_id, 0) >= event.stream_version:
                        continue
                    applied[event.stream_id] = event.stream_version
                    if fold is None:
                        await projection.apply(conn, event)
                    else:
                        fold.apply(event)
                    report.events += 1
                if fold is not None:
                    for table, rows in fold.rows().items():
                        if rows:
                            await conn.copy_records_to_table(table, records=rows, schema_name=schema)
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


def scratch_schema_of(projection: Projection) -> str:
    return f"rebuild_{projection.name}".replace("-", "_").replace(".", "_")


async def drop_scratch(pool: Pool, projection: Projection) -> None:
    await pool.execute(f'DROP SCHEMA IF EXISTS "{scratch_schema_of(projection)}" CASCADE')


async def replace_live(pool: Pool, store: PostgresEventStore, projection: Projection, snapshot: str) -> None:
    """Put the scratch tables, rebuilt from the service's store as of `snapshot`, in place of the
    live ones, with every event committed since applied to them, and have the live runner read
    on from there.

    One transaction: the runner's cursor is locked first (a batch in flight finishes, the next
    waits), so no event is applied to the old tables after the copy nor twice to the new ones.
    Readers of the tables wait for it (TRUNCATE's lock) and then see the new rows whole and as
    current as the old ones were: a revocation the live runner had applied is never undone, not
    even for a moment.
    """
    reader = runner_reader(projection)
    async with pool.acquire() as conn, conn.transaction():
        await lock_cursor(conn, reader)
        await _put_in_place(conn, projection)
        batch = await apply_batch(conn, store, projection, Cursor(done=snapshot), 1000)
        while batch.events:  # (as the runner would have, had it been let)
            batch = await apply_batch(conn, store, projection, batch.cursor, 1000)
        await save_cursor(conn, reader, batch.cursor)


async def replace_live_copy(
    pool: Pool, bootstrap: str, projection: Projection, consumer: str, read: TopicsRead
) -> None:
    """Put the scratch tables, rebuilt from the topics as far as `read` says, in place of a Kafka
    consumer's live copy, with what the live consumer had applied beyond that applied to them too,
    and have the consumer read on from there.

    One transaction: it raises the consumer's generation first (waiting for a batch in flight,
    which holds it shared; the next one waits), so the consumer's stored offsets stand still. The
    records between the rebuild's end offsets and those are applied to the new rows with the
    consumers' own duplicate rule, and the new offsets and stream versions are stored as the
    consumer's. Readers see the new rows whole and as current as the old ones were. The next
    batch finds the new generation, applies nothing and the consumer seeks to the stored offsets.
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO consumer_generations AS g (consumer, generation) VALUES ($1, 1)"
            " ON CONFLICT (consumer) DO UPDATE SET generation = g.generation + 1",
            consumer,
        )
        live = await stored_offsets(conn, consumer)
        await _put_in_place(conn, projection)
        await conn.execute("DELETE FROM consumer_stream_versions WHERE consumer = $1", consumer)
        await conn.copy_records_to_table(
            "consumer_stream_versions",
            records=[(consumer, stream, version) for stream, version in read.versions.items()],
            columns=["consumer", "stream_id", "stream_version"],
        )
        beyond = {tp: (end, live[tp]) for tp, end in read.ends.items() if live.get(tp, 0) > end}
        async for event in _records_between(bootstrap, beyond):
            await apply_once(conn, consumer, projection, event)
        await conn.execute("DELETE FROM consumer_offsets WHERE consumer = $1", consumer)
        await conn.executemany(
            "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES ($1, $2, $3, $4)",
            [(consumer, tp.topic, tp.partition, max(end, live.get(tp, 0))) for tp, end in read.ends.items()],
        )
        after_replace = getattr(projection, "after_replace", None)
        if after_replace is not None:
            await after_replace(conn)


async def _put_in_place(conn: Connection, projection: Projection) -> None:
    """The live tables emptied and filled with the scratch tables' rows (in the caller's transaction)."""
    schema = scratch_schema_of(projection)
    # (Table names come from the projection classes in code, never from input; all of them in
    # one TRUNCATE, so that foreign keys between them do not stand in the way.)
    await conn.execute("TRUNCATE " + ", ".join(f'public."{table}"' for table in projection.tables))
    for table in projection.tables:
        columns = await conn.fetchval(_COLUMNS_OF, table)
        copy = f'INSERT INTO public."{table}" ({columns}) SELECT {columns} FROM "{schema}"."{table}"'  # noqa: S608
        await conn.execute(copy)  # (columns: quote_ident'ed by _COLUMNS_OF)


# The live table's columns, quoted, in its own order (a migration may have added some at the end).
_COLUMNS_OF = """
SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position)
FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1
"""
