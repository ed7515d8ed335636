"""Checkpoints: what a service's event store looked like, published where the store cannot reach.

Every stored event carries `chain_hash`, chained per stream (`shared.eventstore.chain`). Someone
who can rewrite the database can also recompute those hashes; what they cannot rewrite is what
was already published to Kafka. So each service periodically (and on demand) publishes a
**checkpoint** to `<service>.checkpoints`:

    store           an id the store was given at its first checkpoint (kept in the publisher's row):
                    the verifier folds only the checkpoints of the store it verifies
    sequence        1, 2, 3, ... (per store; a retried round reuses its number)
    snapshot        the PostgreSQL snapshot (pg_current_snapshot) the checkpoint covers: exactly the
                    events of the transactions visible in it
    heads           [stream_id, version, chain_hash] of every stream that changed since the previous
                    checkpoint (the first checkpoint: every stream)
    event_count     events covered in total
    stream_count    streams covered in total
    digest          sum mod 2^256 of SHA-256(stream_id 0x00 version(8 bytes) chain_hash) over the heads
                    of *all* streams: folding the checkpoints in order must reproduce it, so a lost
                    or altered checkpoint shows

One round is one database transaction that locks the publisher's row in `reader_positions`
(`checkpoint:<topic>`, holding the last snapshot, sequence, count and digest), reads the heads that
changed between the last snapshot and a new one, publishes, waits for the acknowledgements and
only then saves: replicas take turns, a crash before the save repeats the round under the same
sequence number. A large delta is split into parts (`part`/`parts`) that share a `checkpoint_id`;
only complete checkpoints count. Nothing is published when nothing changed (unless forced).

The topic has one partition (order matters) and keeps everything (`retention.ms=-1`), like the
event topics. The messages are CloudEvents (`hosting.accounts.<service>.CheckpointPublished.v1`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared import metrics
from shared.cloudevents import SPEC_VERSION, TYPE_PREFIX, source_for
from shared.db import Connection, Pool
from shared.eventstore.cursor import EMPTY_SNAPSHOT
from shared.kafka_security import client_options
from shared.waiting import Backoff

log = structlog.get_logger(__name__)

CHECKPOINT_TYPE = "CheckpointPublished"
HEADS_PER_PART = 2000  # ~200 KB per message, far below Kafka's default 1 MB limit
_MOD = 1 << 256


def checkpoint_topic(service: str) -> str:
    """The public name: `<service>.checkpoints`."""
    return f"{service}.checkpoints"


def checkpoint_topic_spec(service: str) -> Any:
    """How the topic is created: one partition, kept forever (a `shared.infra.kafka.TopicSpec`)."""
    from shared.infra.kafka import TopicSpec

    return TopicSpec(checkpoint_topic(service), partitions=1, configs={"retention.ms": "-1"})


def head_term(stream_id: str, version: int, chain_hash: bytes) -> int:
    """One stream head's share of the digest."""
    raw = hashlib.sha256(stream_id.encode() + b"\x00" + version.to_bytes(8, "big") + chain_hash).digest()
    return int.from_bytes(raw, "big")


def digest_hex(value: int) -> str:
    return f"{value % _MOD:064x}"


def digest_of(heads: Iterable[tuple[str, int, bytes]]) -> int:
    return sum(head_term(s, v, h) for s, v, h in heads) % _MOD


@dataclass(frozen=True)
class Checkpoint:
    service: str
    checkpoint_id: str
    sequence: int
    taken_at: datetime
    snapshot: str
    previous_snapshot: str
    event_count: int
    stream_count: int
    digest: str
    heads: list[tuple[str, int, bytes]]  # changed since the previous checkpoint
    store: str = ""  # the store's id (see the module docstring)

    def messages(self, parts_of: int = HEADS_PER_PART) -> list[dict[str, Any]]:
        chunks = [self.heads[i : i + parts_of] for i in range(0, len(self.heads), parts_of)] or [[]]
        return [
            {
                "service": self.service,
                "store": self.store,
                "checkpoint_id": self.checkpoint_id,
                "sequence": self.sequence,
                "taken_at": self.taken_at.isoformat(),
                "snapshot": self.snapshot,
                "previous_snapshot": self.previous_snapshot,
                "event_count": self.event_count,
                "stream_count": self.stream_count,
                "digest": self.digest,
                "part": i + 1,
                "parts": len(chunks),
                "heads": [[s, v, h.hex()] for s, v, h in chunk],
            }
            for i, chunk in enumerate(chunks)
        ]


# -- taking and publishing ------------------------------------------------------------------------

_CHANGED_HEADS = """
WITH fresh AS (
    SELECT stream_id, stream_version FROM events
    WHERE transaction_id >= pg_snapshot_xmin($1::text::pg_snapshot)
      AND transaction_id < pg_snapshot_xmax($2::text::pg_snapshot)
      AND pg_visible_in_snapshot(transaction_id, $2::text::pg_snapshot)
      AND NOT pg_visible_in_snapshot(transaction_id, $1::text::pg_snapshot)
), heads AS (
    SELECT stream_id, max(stream_version) AS head, count(*) AS fresh FROM fresh GROUP BY stream_id
)
SELECT h.stream_id, h.head, h.fresh, e.chain_hash AS head_hash, p.chain_hash AS previous_hash
FROM heads h
JOIN events e ON e.stream_id = h.stream_id AND e.stream_version = h.head
LEFT JOIN events p ON p.stream_id = h.stream_id AND p.stream_version = h.head - h.fresh
ORDER BY h.stream_id
"""


def _initial_state() -> dict[str, Any]:
    return {
        "store": str(uuid.uuid4()),
        "done": EMPTY_SNAPSHOT,
        "sequence": 0,
        "events": 0,
        "streams": 0,
        "digest": "0" * 64,
    }


async def store_identity(conn: Connection, service: str, topic: str | None = None) -> str | None:
    """The id the store's checkpoints carry (None: it never published one)."""
    reader = f"checkpoint:{topic or checkpoint_topic(service)}"
    value = await conn.fetchval("SELECT cursor->>'store' FROM reader_positions WHERE reader = $1", reader)
    return str(value) if value is not None else None


def _headers(service: str, checkpoint: Checkpoint, part: int) -> list[tuple[str, bytes]]:
    return [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", str(uuid.uuid5(uuid.UUID(checkpoint.checkpoint_id), str(part))).encode()),
        ("ce_source", source_for(service).encode()),
        ("ce_type", f"{TYPE_PREFIX}.{service}.{CHECKPOINT_TYPE}.v1".encode()),
        ("ce_time", checkpoint.taken_at.isoformat().encode()),
        ("ce_subject", f"checkpoint-{checkpoint.sequence}".encode()),
        ("content-type", b"application/json"),
    ]


class CheckpointPublisher:
    """Publishes the store's checkpoints for one service (any number of replicas may run it)."""

    def __init__(
        self,
        *,
        service: str,
        pool: Pool,
        producer: AIOKafkaProducer,
        topic: str | None = None,
        interval_s: float = 30.0,
        bootstrap: str | None = None,
    ) -> None:
        self.service = service
        self.topic = topic or checkpoint_topic(service)
        self.reader = f"checkpoint:{self.topic}"
        self.interval_s = interval_s
        self._pool = pool
        self._producer = producer
        self._bootstrap = bootstrap
        self._topic_ready = bootstrap is None

    async def _ensure_topic(self) -> None:
        if self._topic_ready:
            return
        from shared.infra.kafka import ensure_topics

        assert self._bootstrap is not None
        spec = checkpoint_topic_spec(self.service)
        spec = type(spec)(self.topic, partitions=1, configs=dict(spec.configs))
        await ensure_topics(self._bootstrap, [spec])
        self._topic_ready = True

    async def publish(self, *, force: bool = False) -> Checkpoint | None:
        """One round; returns the checkpoint published (None: nothing changed and not forced)."""
        await self._ensure_topic()
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO reader_positions (reader, cursor) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                self.reader,
                _initial_state(),
            )
            raw = await conn.fetchval("SELECT cursor FROM reader_positions WHERE reader = $1 FOR UPDATE", self.reader)
            state = dict(raw if isinstance(raw, dict) else orjson.loads(raw))
            target = await conn.fetchval("SELECT pg_current_snapshot()::text")
            rows = await conn.fetch(_CHANGED_HEADS, state["done"], target)
            if not rows and not force and state["sequence"] > 0:
                await self._save(conn, {**state, "done": target})
                return None
            digest = int(state["digest"], 16)
            events = int(state["events"])
            streams = int(state["streams"])
            heads = []
            for r in rows:
                head_hash = bytes(r["head_hash"])
                digest += head_term(r["stream_id"], r["head"], head_hash)
                if r["previous_hash"] is not None:
                    digest -= head_term(r["stream_id"], r["head"] - r["fresh"], bytes(r["previous_hash"]))
                else:
                    streams += 1
                events += r["fresh"]
                heads.append((r["stream_id"], int(r["head"]), head_hash))
            checkpoint = Checkpoint(
                service=self.service,
                store=str(state["store"]),
                checkpoint_id=str(uuid.uuid4()),
                sequence=int(state["sequence"]) + 1,
                taken_at=datetime.now(UTC),
                snapshot=target,
                previous_snapshot=state["done"],
                event_count=events,
                stream_count=streams,
                digest=digest_hex(digest),
                heads=heads,
            )
            futures = []
            for part, message in enumerate(checkpoint.messages(), start=1):
                futures.append(
                    await self._producer.send(
                        self.topic,
                        key=self.service.encode(),
                        value=orjson.dumps(message),
                        headers=_headers(self.service, checkpoint, part),
                    )
                )
            await asyncio.gather(*futures)
            await self._save(
                conn,
                {
                    "store": checkpoint.store,
                    "done": target,
                    "sequence": checkpoint.sequence,
                    "events": events,
                    "streams": streams,
                    "digest": checkpoint.digest,
                },
            )
        log.info(
            "checkpoint_published",
            service=self.service,
            sequence=checkpoint.sequence,
            changed_streams=len(heads),
            events=events,
        )
        return checkpoint

    async def _save(self, conn: Any, state: dict[str, Any]) -> None:
        await conn.execute(
            "UPDATE reader_positions SET cursor = $2, updated_at = now() WHERE reader = $1", self.reader, state
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Publish every `interval_s` until `stop`; a failing round is logged and retried."""
        backoff = Backoff()
        log.info("checkpoint_publisher_started", service=self.service, topic=self.topic, interval_s=self.interval_s)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval_s)
            if stop.is_set():
                break
            try:
                published = await self.publish()
                backoff.reset()
            except Exception as exc:
                log.error("checkpoint_round_failed", service=self.service, error=repr(exc))
                metrics.CHECKPOINT_ROUNDS.labels(self.service, "failed").inc()
                await backoff.wait(stop)
            else:
                metrics.CHECKPOINT_ROUNDS.labels(self.service, "unchanged" if published is None else "published").inc()
        log.info("checkpoint_publisher_stopped", service=self.service)


# -- reading them back ----------------------------------------------------------------------------


@dataclass
class CheckpointLog:
    """Every complete checkpoint of one store of a service, folded: the heads as of the last one."""

    service: str
    store: str | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list)  # the one counted per sequence, in order
    heads: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # folded: stream -> (version, hash)
    observations: dict[str, dict[int, bytes]] = field(default_factory=dict)  # every published head
    problems: list[str] = field(default_factory=list)  # gaps, digest or count mismatches, torn parts

    @property
    def last(self) -> Checkpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None


def _checkpoint_of(parts: Sequence[dict[str, Any]]) -> Checkpoint:
    first = parts[0]
    heads = [(str(s), int(v), bytes.fromhex(h)) for p in parts for s, v, h in p["heads"]]
    return Checkpoint(
        service=first["service"],
        store=str(first.get("store")),
        checkpoint_id=first["checkpoint_id"],
        sequence=int(first["sequence"]),
        taken_at=datetime.fromisoformat(first["taken_at"]),
        snapshot=first["snapshot"],
        previous_snapshot=first["previous_snapshot"],
        event_count=int(first["event_count"]),
        stream_count=int(first["stream_count"]),
        digest=first["digest"],
        heads=heads,
    )


def fold_checkpoints(service: str, messages: Iterable[dict[str, Any]], store: str | None = None) -> CheckpointLog:
    """Assemble parts into checkpoints, keep the last complete one per sequence, fold and check them.

    `store`: fold only that store's checkpoints (None: the store of the last checkpoint published).
    """
    wanted = [m for m in messages if m.get("service") == service]
    stores = list(dict.fromkeys(str(m.get("store")) for m in wanted))
    if store is None and stores:
        store = stores[-1]
    out = CheckpointLog(service, store)
    if store is not None and store not in stores and stores:
        out.problems.append(
            f"no checkpoint of this store ({store}) was published, but the topic holds checkpoints of"
            f" {len(stores)} other store(s): was the store's identity changed?"
        )
    parts: dict[str, dict[int, dict[str, Any]]] = {}
    order: list[str] = []
    for message in wanted:
        if str(message.get("store")) != store:
            continue
        cid = message["checkpoint_id"]
        if cid not in parts:
            parts[cid] = {}
            order.append(cid)
        parts[cid][int(message["part"])] = message
    by_sequence: dict[int, Checkpoint] = {}
    for cid in order:
        got = parts[cid]
        expected = int(next(iter(got.values()))["parts"])
        if sorted(got) != list(range(1, expected + 1)):
            out.problems.append(f"checkpoint {cid} is incomplete ({len(got)} of {expected} parts): ignored")
            continue
        checkpoint = _checkpoint_of([got[i] for i in sorted(got)])
        for stream_id, version, chain_hash in checkpoint.heads:
            out.observations.setdefault(stream_id, {})[version] = chain_hash
        by_sequence[checkpoint.sequence] = checkpoint  # a retried round supersedes its first attempt
    digest = 0
    expected_sequence = 1
    for sequence in sorted(by_sequence):
        checkpoint = by_sequence[sequence]
        if sequence != expected_sequence:
            out.problems.append(f"checkpoints {expected_sequence}..{sequence - 1} are missing")
        expected_sequence = sequence + 1
        for stream_id, version, chain_hash in checkpoint.heads:
            previous = out.heads.get(stream_id)
            if previous is not None:
                digest -= head_term(stream_id, *previous)
            digest += head_term(stream_id, version, chain_hash)
            out.heads[stream_id] = (version, chain_hash)
        if digest_hex(digest) != checkpoint.digest:
            out.problems.append(f"checkpoint {sequence}: the folded heads do not give its digest")
            digest = int(checkpoint.digest, 16)  # continue from what it says, to keep later ones comparable
        if sum(v for v, _ in out.heads.values()) != checkpoint.event_count:
            out.problems.append(f"checkpoint {sequence}: the folded heads do not add up to its event count")
        if len(out.heads) != checkpoint.stream_count:
            out.problems.append(f"checkpoint {sequence}: the folded heads do not give its stream count")
        out.checkpoints.append(checkpoint)
    return out


async def read_checkpoint_log(
    bootstrap: str, service: str, topic: str | None = None, store: str | None = None
) -> CheckpointLog:
    """Every checkpoint published for `service` (of `store`), from offset 0 of its topic, folded."""
    name = topic or checkpoint_topic(service)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **client_options()
    )
    await consumer.start()
    messages: list[dict[str, Any]] = []
    try:
        partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        if not partitions:
            await consumer._client.set_topics([name])
            partitions = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or ())]
        if not partitions:
            return CheckpointLog(service, store, problems=[f"no topic {name}: nothing was ever published"])
        consumer.assign(partitions)
        # Seek before asking for end offsets: the other order leaves aiokafka's fetcher idle.
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            batches = await consumer.getmany(timeout_ms=500, max_records=1000)
            for tp, records in batches.items():
                messages.extend(orjson.loads(r.value) for r in records if r.offset < end[tp])
                if records and records[-1].offset + 1 >= end[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return fold_checkpoints(service, messages, store)
