"""The chain verifier: recompute every hash chain of an event store and compare with the checkpoints.

Two independent proofs:

1. **The chain.** Each event's `chain_hash` must equal SHA-256(previous event's `chain_hash` ||
   canonical form of the event) (`shared.eventstore.chain`), versions must run 1, 2, 3, ... without
   a gap. A changed byte, a deleted, swapped or inserted event breaks this at a precise
   (stream, version) — unless the attacker recomputed the hashes from there on.
2. **The checkpoints** (`checkpoints.py`), published to Kafka where the database cannot reach. The
   chain recomputed from the genesis hash must reproduce every head hash a checkpoint published;
   a stream must reach at least the version the last checkpoint saw (else its tail was truncated);
   every checkpointed stream must exist; and an event whose transaction the last checkpoint's
   snapshot already saw must be one the checkpoint counted (else it was inserted and backdated).
   This catches a forged chain, located between the last published head that still matches and
   the first that does not.

Events after the last checkpoint are only chain-checked: nothing published vouches for them yet,
and the report says how many there are.

The verifier reads the store in one REPEATABLE READ snapshot (or inside the caller's transaction,
which is how the tampering tests run it) in (stream_id, stream_version) order, page by page along
the unique index (a plain ORDER BY over the table sorted on disk), and computes the
canonical form without building the document dict (`canonical_bytes`, byte-identical to
`chain.canonical`, as the tests check).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from shared.audit.checkpoints import Checkpoint, CheckpointLog
from shared.db import Connection
from shared.eventstore.chain import GENESIS

Progress = Callable[[int, int], None]  # (events checked, events in the store)

# occurred_at rendered by PostgreSQL exactly as chain.canonical renders it in Python:
# astimezone(UTC).isoformat(timespec="microseconds").
_ROWS = """
SELECT event_id::text, stream_id, stream_version, event_type, schema_version, customer_number,
       to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"') AS occurred_at,
       actor, correlation_id::text, causation_id::text, metadata::text, data::text, chain_hash,
       pg_visible_in_snapshot(transaction_id, $1::text::pg_snapshot) AS seen_by_checkpoint
FROM events WHERE (stream_id, stream_version) > ($2, $3)
ORDER BY stream_id, stream_version LIMIT $4
"""

_dumps = orjson.dumps
_SORTED = orjson.OPT_SORT_KEYS
_loads = orjson.loads


def canonical_bytes(
    event_id: str,
    stream_id: str,
    stream_version: int,
    event_type: str,
    schema_version: int,
    customer_number: str,
    occurred_at: str,
    actor: str,
    correlation_id: str,
    causation_id: str | None,
    metadata_json: str,
    data_json: str,
) -> bytes:
    """`chain.canonical` assembled from pieces (the keys are fixed, so their order is known)."""
    return b"".join(
        (
            b'{"actor":',
            _dumps(actor),
            b',"causation_id":',
            _dumps(causation_id),
            b',"correlation_id":',
            _dumps(correlation_id),
            b',"customer_number":',
            _dumps(customer_number),
            b',"data":',
            _dumps(_loads(data_json), option=_SORTED),
            b',"event_id":',
            _dumps(event_id),
            b',"event_type":',
            _dumps(event_type),
            b',"metadata":',
            _dumps(_loads(metadata_json), option=_SORTED),
            b',"occurred_at":',
            _dumps(occurred_at),
            b',"schema_version":',
            _dumps(schema_version),
            b',"stream_id":',
            _dumps(stream_id),
            b',"stream_version":',
            _dumps(stream_version),
            b"}",
        )
    )


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # hash_mismatch | missing_version | out_of_order | truncated | stream_missing |
    #            checkpoint_mismatch | not_covered
    stream_id: str
    version: int
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} at {self.stream_id}@{self.version}: {self.detail}"


@dataclass
class VerificationReport:
    service: str
    events: int = 0
    streams: int = 0
    seconds: float = 0.0
    checkpoint_sequence: int | None = None
    checkpoint_taken_at: datetime | None = None
    covered_events: int = 0  # events the last checkpoint vouches for
    after_checkpoint_events: int = 0  # only chain-checked
    after_checkpoint_streams: int = 0
    findings: list[Finding] = field(default_factory=list)
    log_problems: list[str] = field(default_factory=list)
    streams_seen: set[str] = field(default_factory=set, repr=False)

    @property
    def ok(self) -> bool:
        return not self.findings and not self.log_problems

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        lines = [
            f"{self.service}: {self.events} events in {self.streams} streams checked in {self.seconds:.2f} s",
        ]
        if self.checkpoint_sequence is None:
            lines.append("no checkpoint was ever published: the chains alone were checked")
        else:
            lines.append(
                f"last checkpoint #{self.checkpoint_sequence} ({self.checkpoint_taken_at}) vouches for"
                f" {self.covered_events} events"
            )
        if self.after_checkpoint_events:
            lines.append(
                f"{self.after_checkpoint_events} events in {self.after_checkpoint_streams} streams came after the"
                " last checkpoint: they are only chain-checked (nothing published vouches for them yet)"
            )
        lines += [f"checkpoint log: {p}" for p in self.log_problems]
        lines += [str(f) for f in self.findings]
        lines.append("OK: no alteration found" if self.ok else f"ALTERED: {len(self.findings)} findings")
        return "\n".join(lines)


class _StreamCheck:
    """Walks one stream's rows in version order."""

    __slots__ = ("after", "expected", "first_bad_observed", "last_good_observed", "previous", "recomputed", "stream_id")

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.expected = 1
        self.previous = GENESIS  # stored hash of the previous row
        self.recomputed = GENESIS  # the chain recomputed from the genesis
        self.last_good_observed = 0
        self.first_bad_observed: int | None = None
        self.after = 0


async def verify_store(
    conn: Connection,
    service: str,
    log: CheckpointLog | None = None,
    *,
    progress: Progress | None = None,
    page: int = 5_000,
) -> VerificationReport:
    """Verify every chain of the store behind `conn` against the checkpoint log (if any)."""
    started = time.perf_counter()
    report = VerificationReport(service)
    last: Checkpoint | None = log.last if log is not None else None
    heads = log.heads if log is not None else {}
    observations = log.observations if log is not None else {}
    if log is not None:
        report.log_problems = list(log.problems)
    if last is not None:
        report.checkpoint_sequence = last.sequence
        report.checkpoint_taken_at = last.taken_at
    snapshot = last.snapshot if last is not None else "1:1:"
    total = 0
    if progress is not None:
        total = int(await conn.fetchval("SELECT count(*) FROM events"))
    if conn.is_in_transaction():
        await _walk(conn, snapshot, heads, observations, report, progress, total, page)
    else:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await _walk(conn, snapshot, heads, observations, report, progress, total, page)
    for stream_id, (version, _) in sorted(heads.items()):
        if stream_id not in report.streams_seen:
            report.findings.append(
                Finding("stream_missing", stream_id, 1, f"the last checkpoint saw versions 1..{version}; none is left")
            )
    report.seconds = time.perf_counter() - started
    return report


async def _pages(conn: Connection, snapshot: str, page: int) -> AsyncIterator[list[Any]]:
    """The rows in (stream, version) order, a page at a time along the unique index (no sort).

    The next page is asked for before this one is handed out, so PostgreSQL produces it while we
    hash (two processes, two cores). All pages see one snapshot: the caller's transaction.
    """
    pending: asyncio.Future[list[Any]] | None = asyncio.ensure_future(conn.fetch(_ROWS, snapshot, "", 0, page))
    try:
        while pending is not None:
            rows = await pending
            pending = None
            if len(rows) == page:
                last = rows[-1]
                pending = asyncio.ensure_future(conn.fetch(_ROWS, snapshot, last[1], last[2], page))
            yield rows
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending


async def _walk(
    conn: Connection,
    snapshot: str,
    heads: dict[str, tuple[int, bytes]],
    observations: dict[str, dict[int, bytes]],
    report: VerificationReport,
    progress: Progress | None,
    total: int,
    page: int,
) -> None:
    seen = report.streams_seen
    findings = report.findings
    sha256 = hashlib.sha256
    current: _StreamCheck | None = None
    observed: dict[int, bytes] = {}
    head_version = 0
    count = 0
    async for rows in _pages(conn, snapshot, page):
        for row in rows:
            (
                event_id,
                stream_id,
                version,
                event_type,
                schema_version,
                customer_number,
                occurred_at,
                actor,
                correlation_id,
                causation_id,
                metadata_json,
                data_json,
                stored,
                seen_by_checkpoint,
            ) = row
            if current is None or stream_id != current.stream_id:
                if current is not None:
                    _finish(current, heads, report)
                current = _StreamCheck(stream_id)
                seen.add(stream_id)
                observed = observations.get(stream_id, {})
                head_version = heads[stream_id][0] if stream_id in heads else 0
            if version != current.expected:
                if version > current.expected:
                    missing = f"{current.expected}" + (f"..{version - 1}" if version - 1 > current.expected else "")
                    findings.append(
                        Finding("missing_version", stream_id, current.expected, f"versions {missing} are missing")
                    )
                else:
                    findings.append(
                        Finding("out_of_order", stream_id, version, f"version {version} after {current.expected - 1}")
                    )
                current.expected = version
            canon = canonical_bytes(
                event_id,
                stream_id,
                version,
                event_type,
                schema_version,
                customer_number,
                occurred_at,
                actor,
                correlation_id,
                causation_id,
                metadata_json,
                data_json,
            )
            computed = sha256(current.previous + canon).digest()
            stored = bytes(stored)
            if computed != stored:
                findings.append(
                    Finding(
                        "hash_mismatch", stream_id, version, "the stored chain hash does not follow from this event"
                    )
                )
            # The chain as it must be from the genesis (equal to `computed` until something differed).
            recomputed = (
                computed if current.recomputed == current.previous else sha256(current.recomputed + canon).digest()
            )
            if observed:
                published = observed.get(version)
                if published is not None:
                    if published == recomputed:
                        if current.first_bad_observed is None:
                            current.last_good_observed = version
                    elif current.first_bad_observed is None:
                        current.first_bad_observed = version
            if version > head_version:
                current.after += 1
                if seen_by_checkpoint and snapshot != "1:1:":
                    findings.append(
                        Finding(
                            "not_covered",
                            stream_id,
                            version,
                            "its transaction was visible to the last checkpoint, which does not count it"
                            " (inserted and backdated)",
                        )
                    )
            current.previous = stored
            current.recomputed = recomputed
            current.expected = version + 1
            count += 1
        if progress is not None:
            progress(count, total)
    if current is not None:
        _finish(current, heads, report)
    report.events = count
    report.streams = len(seen)
    if progress is not None:
        progress(count, total)


def _finish(check: _StreamCheck, heads: dict[str, tuple[int, bytes]], report: VerificationReport) -> None:
    stream_id = check.stream_id
    last_version = check.expected - 1
    head = heads.get(stream_id)
    if head is not None:
        version = head[0]
        report.covered_events += min(version, last_version)
        if last_version < version:
            report.findings.append(
                Finding(
                    "truncated",
                    stream_id,
                    last_version + 1,
                    f"the stream ends at version {last_version}; the last checkpoint saw it at {version}",
                )
            )
    if check.first_bad_observed is not None:
        report.findings.append(
            Finding(
                "checkpoint_mismatch",
                stream_id,
                check.first_bad_observed,
                f"the chain recomputed from the genesis differs from the published head at version"
                f" {check.first_bad_observed} (it still matched at version {check.last_good_observed}):"
                f" versions {check.last_good_observed + 1}..{check.first_bad_observed} were altered",
            )
        )
    if check.after:
        report.after_checkpoint_events += check.after
        report.after_checkpoint_streams += 1
