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
which is how the tampering tests run it), in two passes:

- **The fast pass** reads every event in log order (`position`: the table's physical order, the
  cheapest scan for PostgreSQL, page by page with the next page asked for before this one is
  hashed, so PostgreSQL and Python work at the same time on the two cores). PostgreSQL computes
  each event's canonical form (`chain.CANONICAL_SQL`), Python hashes it with the previous stored
  hash of its stream (one small state per stream). A stream is *clean* when its events came in
  versions 1, 2, 3, ..., every hash follows, every published head equals the stored hash at
  that version, no event the last checkpoint's snapshot saw lies beyond its head, and it reaches
  the head: such a stream has no finding (its chain recomputed from the genesis is the stored
  one), only counts. Anything else makes it a *suspect*.
- **The exact walk** takes the suspects again, in (stream, version) order with every column, and
  computes the canonical form in Python (`chain.canonical`, the reference): it produces the
  findings and their locations. A rendering difference between PostgreSQL and the reference
  could only make a stream a suspect, never a finding.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.audit.checkpoints import Checkpoint, CheckpointLog
from shared.db import Connection
from shared.eventstore.chain import CANONICAL_SQL, GENESIS, canonical_of_row

Progress = Callable[[int, int], None]  # (events checked, events in the store)

# The events in log order, a page after a position: (position, stream_id, version, canonical form, stored hash, seen by
# the last checkpoint).
_LOG_ROWS = f"""
SELECT position, stream_id, stream_version, {CANONICAL_SQL}, chain_hash,
       pg_visible_in_snapshot(transaction_id, $1::text::pg_snapshot)
FROM events WHERE position > $2 ORDER BY position LIMIT $3
"""  # noqa: S608 - assembled from module constants only

# The suspect streams with every column, for the reference canonical form.
_STREAM_ROWS = """
SELECT *, pg_visible_in_snapshot(transaction_id, $1::text::pg_snapshot) AS seen_by_checkpoint
FROM events WHERE stream_id = ANY($2::text[]) ORDER BY stream_id, stream_version
"""
_SUSPECTS_PER_QUERY = 1000
_SLICE = 500  # rows hashed between two looks at the socket

Row = tuple[str, int, bytes, bytes, bool]  # stream_id, version, canonical form, stored hash, seen


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
    if conn.is_in_transaction():
        await _verify(conn, snapshot, heads, observations, report, progress, page)
    else:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await _verify(conn, snapshot, heads, observations, report, progress, page)
    for stream_id, (version, _) in sorted(heads.items()):
        if stream_id not in report.streams_seen:
            report.findings.append(
                Finding("stream_missing", stream_id, 1, f"the last checkpoint saw versions 1..{version}; none is left")
            )
    report.seconds = time.perf_counter() - started
    return report


async def _verify(
    conn: Connection,
    snapshot: str,
    heads: dict[str, tuple[int, bytes]],
    observations: dict[str, dict[int, bytes]],
    report: VerificationReport,
    progress: Progress | None,
    page: int,
) -> None:
    total = int(await conn.fetchval("SELECT count(*) FROM events")) if progress is not None else 0
    fast = _FastPass(snapshot, heads, observations)
    async for rows in _log_pages(conn, snapshot, page):
        for start in range(0, len(rows), _SLICE):
            fast.feed(rows[start : start + _SLICE])
            # Let asyncpg read what PostgreSQL sent meanwhile: a full socket buffer would stop it.
            await asyncio.sleep(0)
        if progress is not None:
            progress(fast.count, total)
    suspects = fast.close(report)
    walker = _Walker(snapshot, heads, observations, report)
    for start in range(0, len(suspects), _SUSPECTS_PER_QUERY):
        rows = await conn.fetch(_STREAM_ROWS, snapshot, suspects[start : start + _SUSPECTS_PER_QUERY])
        walker.feed(_reference_row(r) for r in rows)
    walker.close()


def _reference_row(row: Any) -> Row:
    return (
        row["stream_id"],
        row["stream_version"],
        canonical_of_row(row),
        row["chain_hash"],
        row["seen_by_checkpoint"],
    )


async def _log_pages(conn: Connection, snapshot: str, page: int) -> AsyncIterator[list[Any]]:
    """The events in log order, a page at a time along the primary key.

    The next page is asked for before this one is handed out, so PostgreSQL produces it while we
    hash (two processes, two cores). All pages see one snapshot: the caller's transaction.
    """
    pending: asyncio.Future[list[Any]] | None = asyncio.ensure_future(conn.fetch(_LOG_ROWS, snapshot, 0, page))
    try:
        while pending is not None:
            rows = await pending
            pending = None
            if len(rows) == page:
                pending = asyncio.ensure_future(conn.fetch(_LOG_ROWS, snapshot, rows[-1][0], page))
            yield rows
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending


class _FastPass:
    """Checks the events in log order, one state per stream: [next version, previous stored hash,
    published heads (or None), version of the last checkpoint's head (0: none)].

    A suspect stream's state becomes None: the exact walk looks at it again from the start.
    """

    def __init__(
        self, snapshot: str, heads: dict[str, tuple[int, bytes]], observations: dict[str, dict[int, bytes]]
    ) -> None:
        self.covered_before = snapshot != "1:1:"
        self.heads = heads
        self.observations = observations
        self.states: dict[str, list[Any] | None] = {}
        self.count = 0

    def feed(self, rows: list[Any]) -> None:
        states = self.states
        heads = self.heads
        observations = self.observations
        covered_before = self.covered_before
        sha256 = hashlib.sha256
        for _, stream_id, version, canon, stored, seen_by_checkpoint in rows:
            state = states.get(stream_id, _NEW)
            if state is _NEW:
                head = heads.get(stream_id)
                state = [1, GENESIS, observations.get(stream_id), head[0] if head is not None else 0]
                states[stream_id] = state
            elif state is None:
                continue
            if (
                version != state[0]
                or sha256(state[1] + canon).digest() != stored
                or (state[2] is not None and state[2].get(version, stored) != stored)
                or (seen_by_checkpoint and covered_before and version > state[3])  # seen, not counted
            ):
                states[stream_id] = None
                continue
            state[0] = version + 1
            state[1] = stored
        self.count += len(rows)

    def close(self, report: VerificationReport) -> list[str]:
        """Count the clean streams into `report`; return the suspects, sorted."""
        suspects = []
        seen = report.streams_seen
        for stream_id, state in self.states.items():
            if state is None:
                suspects.append(stream_id)
                continue
            last = state[0] - 1
            head_version = state[3]
            if last < head_version:
                suspects.append(stream_id)  # truncated
                continue
            seen.add(stream_id)
            report.events += last
            report.covered_events += head_version
            if last > head_version:
                report.after_checkpoint_events += last - head_version
                report.after_checkpoint_streams += 1
        suspects.sort()
        return suspects


_NEW: list[Any] = []


class _Walker:
    """Walks the rows in (stream, version) order, fed a page at a time."""

    def __init__(
        self,
        snapshot: str,
        heads: dict[str, tuple[int, bytes]],
        observations: dict[str, dict[int, bytes]],
        report: VerificationReport,
    ) -> None:
        self.snapshot = snapshot
        self.heads = heads
        self.observations = observations
        self.report = report
        self.current: _StreamCheck | None = None
        self.observed: dict[int, bytes] = {}
        self.head_version = 0
        self.count = 0

    def feed(self, rows: Iterable[Row]) -> None:
        heads = self.heads
        report = self.report
        seen = report.streams_seen
        findings = report.findings
        covered_before = self.snapshot != "1:1:"
        sha256 = hashlib.sha256
        current = self.current
        observed = self.observed
        head_version = self.head_version
        count = self.count
        for stream_id, version, canon, stored, seen_by_checkpoint in rows:
            if current is None or stream_id != current.stream_id:
                if current is not None:
                    _finish(current, heads, report)
                current = _StreamCheck(stream_id)
                seen.add(stream_id)
                observed = self.observations.get(stream_id, {})
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
            computed = sha256(current.previous + canon).digest()
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
                if seen_by_checkpoint and covered_before:
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
        self.current = current
        self.observed = observed
        self.head_version = head_version
        self.count = count

    def close(self) -> None:
        if self.current is not None:
            _finish(self.current, self.heads, self.report)
        self.report.events += self.count
        self.report.streams = len(self.report.streams_seen)


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
