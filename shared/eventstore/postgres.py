"""The PostgreSQL event store (asyncpg).

One INSERT appends a whole batch; the unique (stream_id, stream_version) index is the real
concurrency guarantee, and the statement additionally refuses to append after a version that
does not exist (which would leave a gap) or after one written by a *younger* transaction
(which would put the stream out of order for readers, see cursor.py). Either way the caller gets
`ConcurrencyConflict`, which the HTTP layer answers with 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncGenerator, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.db import Connection, Pool
from shared.envelope import Actor, DomainEvent, EventContext, RecordedEvent
from shared.errors import ConcurrencyConflict
from shared.eventstore.chain import GENESIS, canonical, link
from shared.eventstore.cursor import Cursor
from shared.eventstore.port import EventBatch, Stream
from shared.registry import EventRegistry

_COLUMNS = (
    "position, transaction_id::text::bigint AS txid, event_id, stream_id, stream_version, event_type,"
    " schema_version, customer_number, occurred_at, actor, correlation_id, causation_id, metadata, data, chain_hash"
)

_APPEND = """
INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, customer_number,
                    occurred_at, actor, correlation_id, causation_id, metadata, data, chain_hash)
SELECT u.event_id, $1, u.stream_version, u.event_type, u.schema_version, $2, $3, $4, $5, $6, $7, u.data,
       u.chain_hash
FROM unnest($8::uuid[], $9::int[], $10::text[], $11::int[], $12::jsonb[], $14::bytea[])
     AS u(event_id, stream_version, event_type, schema_version, data, chain_hash)
WHERE ($13::int = 0 OR EXISTS (
        SELECT 1 FROM events p WHERE p.stream_id = $1 AND p.stream_version = $13
        AND p.chain_hash = $15 AND p.transaction_id <= pg_current_xact_id()))
  AND ($13::int > 0 OR NOT EXISTS (SELECT 1 FROM events p WHERE p.stream_id = $1))
RETURNING position
"""

# Appends to several streams in one statement (a group commit): every row carries its stream's
# envelope, expected version and anchor, and the same guards as _APPEND decide per stream, plus
# "the next version is not taken yet": a stream that moved on (committed) gets no row and the
# others are written, where a unique violation would fail the whole statement. `append` keeps
# _APPEND, which checks its one stream once rather than per row: through this statement single
# appends fell from ~4,800 to ~2,600/s and 100-event batches from ~94,000 to ~47,000 events/s.
_APPEND_MANY = """
INSERT INTO events (event_id, stream_id, stream_version, event_type, schema_version, customer_number,
                    occurred_at, actor, correlation_id, causation_id, metadata, data, chain_hash)
SELECT u.event_id, u.stream_id, u.stream_version, u.event_type, u.schema_version, u.customer_number,
       u.occurred_at, u.actor, u.correlation_id, u.causation_id, u.metadata, u.data, u.chain_hash
FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[], $7::timestamptz[], $8::text[],
            $9::uuid[], $10::uuid[], $11::jsonb[], $12::jsonb[], $13::bytea[], $14::int[], $15::bytea[])
     AS u(event_id, stream_id, stream_version, event_type, schema_version, customer_number, occurred_at, actor,
          correlation_id, causation_id, metadata, data, chain_hash, expected, anchor)
WHERE CASE WHEN u.expected = 0 THEN NOT EXISTS (SELECT 1 FROM events p WHERE p.stream_id = u.stream_id)
      ELSE EXISTS (
        SELECT 1 FROM events p WHERE p.stream_id = u.stream_id AND p.stream_version = u.expected
        AND p.chain_hash = u.anchor AND p.transaction_id <= pg_current_xact_id())
        AND NOT EXISTS (SELECT 1 FROM events p WHERE p.stream_id = u.stream_id AND p.stream_version = u.expected + 1)
      END
RETURNING stream_id, stream_version, position
"""

_HEADS = """
SELECT h.stream_id, e.chain_hash FROM unnest($1::text[], $2::int[]) AS h(stream_id, version)
JOIN events e ON e.stream_id = h.stream_id AND e.stream_version = h.version
"""

# The queries below are assembled from module constants only; no input reaches them.
_LOAD = f"SELECT {_COLUMNS} FROM events WHERE stream_id = $1 ORDER BY stream_version"

_WINDOW = f"""
SELECT {_COLUMNS} FROM events
WHERE transaction_id >= pg_snapshot_xmin($1::text::pg_snapshot)
  AND transaction_id < pg_snapshot_xmax($2::text::pg_snapshot)
  AND (transaction_id, position) > ($3::text::xid8, $4::bigint)
  AND pg_visible_in_snapshot(transaction_id, $2::text::pg_snapshot)
  AND NOT pg_visible_in_snapshot(transaction_id, $1::text::pg_snapshot)
ORDER BY transaction_id, position
LIMIT $5
"""
# The same window, only events of these types (a reader that folds a few types of a busy store).
_WINDOW_TYPES = _WINDOW.replace("ORDER BY", "AND event_type = ANY($6::text[])\nORDER BY")


# Every event committed before the scan's snapshot, in position order, one page after another.
# Within a stream, position order is version order: version n+1 is inserted only after version n
# (committed, or earlier in the same transaction), so it draws its position later. The select
# list comes from code (`_COLUMNS`, or a reader's own such as the authorization contract's) and
# begins with `position`, which the pages go along.
_SCAN = "SELECT {columns} FROM events WHERE position > $1 ORDER BY position LIMIT $2"
_SCAN_TYPES = (
    "SELECT {columns} FROM events WHERE position > $1 AND event_type = ANY($3::text[]) ORDER BY position LIMIT $2"
)


@dataclass(frozen=True, slots=True)
class ScanPage:
    """Rows of a scan, as selected (`position` first)."""

    rows: list[asyncpg.Record]
    snapshot: str  # the scan's snapshot: `Cursor(done=snapshot)` reads on from where it ends


@dataclass(frozen=True, slots=True)
class StreamAppend:
    """One stream's part of `append_many`: the arguments of `append`."""

    stream_id: str
    expected_version: int
    events: Sequence[DomainEvent]
    context: EventContext
    previous_hash: bytes | None = None


@dataclass(frozen=True, slots=True)
class _Prepared:
    """An append with its ids, versions, encoded data and chain hashes computed."""

    request: StreamAppend
    ids: list[uuid.UUID]
    versions: list[int]
    data: list[dict[str, Any]]
    metadata: dict[str, Any]
    actor: str
    anchor: bytes
    hashes: list[bytes]


def record_from_row(row: asyncpg.Record, actors: dict[str, Actor] | None = None) -> RecordedEvent:
    """A row selected as `_COLUMNS`; `actors` caches parsed actors over one long read."""
    (position, _, event_id, stream_id, version, event_type, schema_version, customer_number, occurred_at,
     actor_text, correlation_id, causation_id, metadata, data, chain_hash) = row  # fmt: skip
    actor = actors.get(actor_text) if actors is not None else None
    if actor is None:
        actor = Actor.parse(actor_text)
        if actors is not None:
            actors[actor_text] = actor
    # Positional: the dataclass's field order (cheaper than keywords on a path that runs per event).
    return RecordedEvent(
        event_id, event_type, schema_version, stream_id, version, customer_number, occurred_at, actor,
        correlation_id, causation_id, data, metadata, position, chain_hash,
    )  # fmt: skip


class PostgresEventStore:
    def __init__(self, pool: Pool, registry: EventRegistry) -> None:
        self._pool = pool
        self._registry = registry

    @property
    def registry(self) -> EventRegistry:
        return self._registry

    async def load(self, stream_id: str, *, conn: Connection | None = None) -> Stream:
        rows = await (conn or self._pool).fetch(_LOAD, stream_id)
        events = [record_from_row(r) for r in rows]
        return Stream(stream_id, events[-1].stream_version if events else 0, events)

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: EventContext,
        *,
        conn: Connection | None = None,
        previous_hash: bytes | None = None,
    ) -> list[RecordedEvent]:
        """`previous_hash`: the chain hash of the event at `expected_version`, when the caller has
        it (it loaded the stream); it saves a round trip and is checked by the insert."""
        if not events:
            return []
        db = conn or self._pool
        request = StreamAppend(stream_id, expected_version, events, context, previous_hash)
        anchor = previous_hash
        if anchor is None and expected_version > 0:
            # Immutable once committed, so reading it outside the insert's transaction is safe;
            # a missing row means the expected version does not exist (the insert then refuses).
            anchor = await db.fetchval(
                "SELECT chain_hash FROM events WHERE stream_id = $1 AND stream_version = $2",
                stream_id,
                expected_version,
            )
        prepared = self._prepare(request, anchor or GENESIS)
        args: list[Any] = [
            stream_id,
            context.customer_number,
            context.occurred_at,
            prepared.actor,
            context.correlation_id,
            context.causation_id,
            prepared.metadata,
            prepared.ids,
            prepared.versions,
            [e.event_type for e in events],
            [e.schema_version for e in events],
            prepared.data,
            expected_version,
            prepared.hashes,
            prepared.anchor,
        ]
        try:
            rows = await db.fetch(_APPEND, *args)
        except asyncpg.UniqueViolationError:
            raise ConcurrencyConflict(stream_id, expected_version) from None
        if len(rows) != len(events):
            raise ConcurrencyConflict(stream_id, expected_version)
        return self._recorded(prepared, [r["position"] for r in rows])

    async def append_many(
        self, appends: Sequence[StreamAppend], *, conn: Connection | None = None
    ) -> list[list[RecordedEvent] | ConcurrencyConflict]:
        """Append to several streams (each at most once) in one statement, for group commits.

        Per append, in order: its recorded events, or `ConcurrencyConflict` when its stream is not
        at the expected version (the others are written all the same). A unique violation (a
        concurrent writer took one of the versions) fails the whole statement: nothing is written
        and `ConcurrencyConflict` is raised, so the caller tries the appends one by one.
        """
        if len({a.stream_id for a in appends}) != len(appends):
            raise ValueError("append_many takes each stream at most once")
        db = conn or self._pool
        missing = [a for a in appends if a.previous_hash is None and a.expected_version > 0]
        heads: dict[str, bytes] = {}
        if missing:
            rows = await db.fetch(_HEADS, [a.stream_id for a in missing], [a.expected_version for a in missing])
            heads = {r["stream_id"]: r["chain_hash"] for r in rows}
        prepared = [self._prepare(a, a.previous_hash or heads.get(a.stream_id, GENESIS)) for a in appends if a.events]
        columns: list[list[Any]] = [[] for _ in range(15)]
        for p in prepared:
            a, c = p.request, p.request.context
            for i, event in enumerate(a.events):
                row = (
                    p.ids[i], a.stream_id, p.versions[i], event.event_type, event.schema_version, c.customer_number,
                    c.occurred_at, p.actor, c.correlation_id, c.causation_id, p.metadata, p.data[i], p.hashes[i],
                    a.expected_version, p.anchor,
                )  # fmt: skip
                for column, value in zip(columns, row, strict=True):
                    column.append(value)
        positions: dict[tuple[str, int], int] = {}
        if prepared:
            try:
                rows = await db.fetch(_APPEND_MANY, *columns)
            except asyncpg.UniqueViolationError:
                raise ConcurrencyConflict("(several streams)", 0) from None
            positions = {(r["stream_id"], r["stream_version"]): r["position"] for r in rows}
        by_stream = {p.request.stream_id: p for p in prepared}
        outcomes: list[list[RecordedEvent] | ConcurrencyConflict] = []
        for a in appends:
            done = by_stream.get(a.stream_id)
            if done is None:
                outcomes.append([])  # nothing to append
            elif (a.stream_id, done.versions[0]) in positions:
                outcomes.append(self._recorded(done, [positions[(a.stream_id, v)] for v in done.versions]))
            else:
                outcomes.append(ConcurrencyConflict(a.stream_id, a.expected_version))
        return outcomes

    def _prepare(self, request: StreamAppend, anchor: bytes) -> _Prepared:
        """Ids, versions, encoded data and the chain from `anchor` (the hash of the event at the
        expected version, GENESIS for a new stream; the insert checks it)."""
        events, context = request.events, request.context
        ids = [uuid.uuid4() for _ in events]
        first = request.expected_version + 1
        versions = list(range(first, first + len(events)))
        data = [self._registry.encode(e) for e in events]
        metadata = dict(context.metadata)
        actor = str(context.actor)
        previous = anchor
        hashes: list[bytes] = []
        for i, event in enumerate(events):
            previous = link(
                previous,
                canonical(
                    event_id=ids[i],
                    stream_id=request.stream_id,
                    stream_version=versions[i],
                    event_type=event.event_type,
                    schema_version=event.schema_version,
                    customer_number=context.customer_number,
                    occurred_at=context.occurred_at,
                    actor=actor,
                    correlation_id=context.correlation_id,
                    causation_id=context.causation_id,
                    metadata=metadata,
                    data=data[i],
                ),
            )
            hashes.append(previous)
        return _Prepared(request, ids, versions, data, metadata, actor, anchor, hashes)

    @staticmethod
    def _recorded(prepared: _Prepared, positions: list[int]) -> list[RecordedEvent]:
        request, context = prepared.request, prepared.request.context
        return [
            RecordedEvent(
                event_id=prepared.ids[i],
                event_type=event.event_type,
                schema_version=event.schema_version,
                stream_id=request.stream_id,
                stream_version=prepared.versions[i],
                customer_number=context.customer_number,
                occurred_at=context.occurred_at,
                actor=context.actor,
                correlation_id=context.correlation_id,
                causation_id=context.causation_id,
                data=prepared.data[i],
                metadata=prepared.metadata,
                position=positions[i],
                chain_hash=prepared.hashes[i],
            )
            for i, event in enumerate(request.events)
        ]

    async def read_batch(
        self,
        cursor: Cursor,
        limit: int,
        *,
        conn: Connection | None = None,
        event_types: Collection[str] | None = None,
    ) -> EventBatch:
        """The events committed after `cursor` (at most `limit`), in commit order; `event_types`:
        only those (the cursor moves past the others alike)."""
        db = conn or self._pool
        target = cursor.target
        if target is None:
            target = await db.fetchval("SELECT pg_current_snapshot()::text")
            assert isinstance(target, str)
            if target == cursor.done:  # no transaction began or ended since: nothing new to read
                return EventBatch([], cursor)
        after_txid, after_pos = cursor.after or (0, 0)
        window = (cursor.done, target, str(after_txid), after_pos, limit)
        if event_types is None:
            rows = await db.fetch(_WINDOW, *window)
        else:
            rows = await db.fetch(_WINDOW_TYPES, *window, sorted(event_types))
        events = [record_from_row(r) for r in rows]
        if len(rows) < limit:
            next_cursor = Cursor(done=target)
        else:
            next_cursor = Cursor(done=cursor.done, target=target, after=(rows[-1]["txid"], rows[-1]["position"]))
        return EventBatch(events, next_cursor)

    async def scan(
        self,
        *,
        event_types: Collection[str] | None = None,
        page: int = 5000,
        on_snapshot: Callable[[str], None] | None = None,
    ) -> AsyncGenerator[list[RecordedEvent], None]:
        """Every event committed when the scan began (only `event_types`, if given), for rebuilds.

        Per stream the events come in version order; across streams in position order, which is
        not commit order (a live reader uses `read_batch`). `on_snapshot` is told the scan's
        snapshot with the first page: a reader whose cursor is done at it reads on from there.
        """
        actors: dict[str, Actor] = {}
        async with contextlib.aclosing(self.scan_rows(_COLUMNS, event_types=event_types, page=page)) as pages:
            async for scanned in pages:
                if on_snapshot is not None:
                    on_snapshot(scanned.snapshot)
                    on_snapshot = None
                yield [record_from_row(r, actors) for r in scanned.rows]

    async def scan_rows(
        self, columns: str, *, event_types: Collection[str] | None = None, page: int = 5000
    ) -> AsyncGenerator[ScanPage, None]:
        """`scan` with a select list of the caller's (from code, never from input, beginning with
        `position`), the rows undecoded.

        One REPEATABLE READ snapshot on a connection of its own, pages along the primary key, and
        the next page asked for before this one is handed out, so that PostgreSQL produces it
        while the caller works. At least one page, possibly empty.
        """
        types = sorted(event_types) if event_types is not None else None
        sql, extra = (_SCAN, ()) if types is None else (_SCAN_TYPES, (types,))
        sql = sql.format(columns=columns)
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            # The first statement takes the transaction's snapshot: the one every page reads.
            snapshot = await conn.fetchval("SELECT pg_current_snapshot()::text")
            pending: asyncio.Future[list[asyncpg.Record]] | None = asyncio.ensure_future(
                conn.fetch(sql, 0, page, *extra)
            )
            try:
                while pending is not None:
                    rows = await pending
                    pending = None
                    if len(rows) == page:
                        pending = asyncio.ensure_future(conn.fetch(sql, rows[-1][0], page, *extra))
                    yield ScanPage(rows, snapshot)
            finally:
                if pending is not None:
                    pending.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await pending

    async def read_all(self, *, batch_size: int = 5000) -> list[RecordedEvent]:
        """Every committed event in reader order (tests, rebuilds and audits)."""
        out: list[RecordedEvent] = []
        cursor = Cursor.start()
        while True:
            batch = await self.read_batch(cursor, batch_size)
            out.extend(batch.events)
            cursor = batch.cursor
            if batch.window_complete:
                return out
