"""Reading whole topics, from their first offset to the end offsets seen at the start, into the model.

Compliance replays everything (the topics keep every event forever, `retention.ms=-1`) and may do
so on a copy of the topics; nothing here touches a service's database, and no consumer group is
joined (nothing is committed, nobody else's offsets move).

Why raw fetches: `AIOKafkaConsumer.getmany` turns every record into a `ConsumerRecord` on the way,
which costs about 10 µs per record here, more than all our own work. `TopicReader` sends Kafka
fetch requests itself (through aiokafka's client and protocol classes) and walks the returned
record batches with aiokafka's C record parser, about 1 µs per record, and asks for the next
range of each node before it decodes the current one. Offsets come from the consumer's own
`beginning_offsets` / `end_offsets` (no fetcher involved, so the "seek before end_offsets" quirk
of `shared.rebuild.events_from_topics` does not apply).

Why 4 MiB responses, not larger: each response is copied three times on its way in (socket
buffer, response bytes, each partition's records), and glibc serves allocations above its
adaptive threshold (at most 32 MiB) with fresh mmaps, every page of them a page fault when first
written. With 64 MiB responses a million-event replay took ~750,000 minor faults and a fifth of
its time in the kernel; at 4 MiB the buffers are reused (~330,000 faults, mostly the model's own
memory), 165,000 -> ~180,000 events/s, and the broker is not asked any more often than the
decoding keeps up with.

A reader remembers its positions: a later `read_into` continues where the last one ended
(the HTTP API's refresh), still stopping at the end offsets seen when that call began.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords

from shared.audit.events import RecordDecoder
from shared.audit.model import AuditModel, bulk_load
from shared.cloudevents import MalformedCloudEvent
from shared.kafka import SERVICES, partitions_of, topic_for
from shared.kafka_security import client_options

READ_UNCOMMITTED = 0
# Errors after which fresh metadata (a new leader) usually helps: unknown topic or partition,
# leader not available, not leader, replica not available, fenced / unknown leader epoch.
_RETRIABLE = frozenset({3, 5, 6, 9, 74, 75})
_MAX_MALFORMED_KEPT = 1000

Progress = Callable[[int, int], None]  # (records read so far, records to read in this pass)


class ReplayError(RuntimeError):
    """The topics could not be read (a partition keeps failing, a topic does not exist)."""


def service_topics() -> list[str]:
    """The four public topics: identity, contacts, billing, domains."""
    return [topic_for(s) for s in SERVICES]


@dataclass
class ReplayReport:
    records: int = 0  # records read in this pass
    added: int = 0  # new events filed in the model
    seconds: float = 0.0
    end_offsets: dict[str, int] = field(default_factory=dict)  # "<topic>/<partition>" -> end offset

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


class TopicReader:
    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str] | None = None,
        *,
        max_bytes: int = 4 * 1024 * 1024,
        partition_max_bytes: int = 1024 * 1024,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics) if topics is not None else service_topics()
        self._max_bytes = max_bytes
        self._partition_max_bytes = partition_max_bytes
        self.positions: dict[TopicPartition, int] = {}
        self._decoder = RecordDecoder()

    async def _offsets(self) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False, **client_options()
        )
        await consumer.start()
        try:
            partitions = await partitions_of(consumer, self.topics)
            missing = [t for t in self.topics if not any(tp.topic == t for tp in partitions)]
            if missing:
                raise ReplayError(f"no such topic: {', '.join(missing)}")
            start = await consumer.beginning_offsets(partitions)
            end = await consumer.end_offsets(partitions)
            return start, end
        finally:
            await consumer.stop()

    async def read_into(self, model: AuditModel, progress: Progress | None = None) -> ReplayReport:
        """Read every topic from where this reader stands to the end offsets as of now."""
        started = time.perf_counter()
        start, end = await self._offsets()
        for tp, first in start.items():
            self.positions[tp] = max(self.positions.get(tp, first), first)
        report = ReplayReport(end_offsets={f"{tp.topic}/{tp.partition}": end[tp] for tp in end})
        total = sum(max(0, end[tp] - self.positions[tp]) for tp in end)
        client = AIOKafkaClient(bootstrap_servers=self.bootstrap, client_id="audit-replay", **client_options())
        await client.bootstrap()
        try:
            await client.set_topics(self.topics)
            with bulk_load():
                await self._fetch_all(client, model, end, report, total, progress)
        finally:
            await client.close()
        report.seconds = time.perf_counter() - started
        return report

    def _live(self, end: dict[TopicPartition, int]) -> list[TopicPartition]:
        return [tp for tp in end if self.positions[tp] < end[tp]]

    def _request(self, client: AIOKafkaClient, partitions: list[TopicPartition]) -> dict[int, FetchRequest]:
        by_node: dict[int, dict[str, list[tuple[int, int, int]]]] = {}
        for tp in partitions:
            node = client.cluster.leader_for_partition(tp)
            if node is None or node < 0:
                node = -1
            by_node.setdefault(node, {}).setdefault(tp.topic, []).append(
                (tp.partition, self.positions[tp], self._partition_max_bytes)
            )
        return {
            node: FetchRequest(500, 1, self._max_bytes, READ_UNCOMMITTED, list(topics.items()))
            for node, topics in by_node.items()
        }

    async def _fetch_all(
        self,
        client: AIOKafkaClient,
        model: AuditModel,
        end: dict[TopicPartition, int],
        report: ReplayReport,
        total: int,
        progress: Progress | None,
    ) -> None:
        failures = 0
        in_flight: dict[int, asyncio.Future[object]] = {}

        async def send_more() -> None:
            nonlocal failures
            busy = set(in_flight)
            wanted = [tp for tp in self._live(end) if client.cluster.leader_for_partition(tp) not in busy]
            for node, request in self._request(client, wanted).items():
                if node < 0:
                    failures += 1
                    if failures > 20:
                        raise ReplayError("no leader for some partitions")
                    await asyncio.sleep(0.2)
                    await client.force_metadata_update()
                    continue
                in_flight[node] = asyncio.ensure_future(client.send(node, request))

        try:
            while True:
                await send_more()
                if not in_flight:
                    if not self._live(end):
                        return
                    continue
                done, _ = await asyncio.wait(in_flight.values(), return_when=asyncio.FIRST_COMPLETED)
                scanned: list[_Slice] = []
                for node, future in list(in_flight.items()):
                    if future in done:
                        del in_flight[node]
                        slices, retry = self._scan(future.result(), end)
                        scanned.extend(slices)
                        if retry:
                            failures += 1
                            if failures > 20:
                                raise ReplayError(f"fetching keeps failing: error codes {sorted(retry)}")
                            await client.force_metadata_update()
                            await asyncio.sleep(min(0.05 * failures, 1.0))
                # Ask for the next ranges before decoding these: the broker works while we decode.
                await send_more()
                await self._decode(scanned, model, report)
                if progress is not None:
                    progress(report.records, total)
        finally:
            for future in in_flight.values():
                future.cancel()

    def _scan(self, response: object, end: dict[TopicPartition, int]) -> tuple[list[_Slice], set[int]]:
        """The record batches of a fetch response, and the positions advanced past them."""
        retry: set[int] = set()
        slices: list[_Slice] = []
        for topic, partitions in response.topics:  # type: ignore[attr-defined]
            for partition, error_code, _highwater, *part_data in partitions:
                if error_code != 0:
                    if error_code in _RETRIABLE:
                        retry.add(error_code)
                        continue
                    raise ReplayError(f"{topic}/{partition}: Kafka error code {error_code}")
                tp = TopicPartition(topic, partition)
                start = self.positions[tp]
                stop = end[tp]
                position = start
                batches = []
                records = MemoryRecords(part_data[-1])
                while records.has_next():
                    batch = records.next_batch()
                    if batch is None:  # a batch cut off at the response's size limit
                        break
                    if not batch.is_control_batch:
                        batches.append(batch)
                    position = max(position, min(batch.next_offset, stop))
                self.positions[tp] = position
                if batches:
                    slices.append(_Slice(topic, partition, start, stop, batches))
        return slices, retry

    async def _decode(self, slices: list[_Slice], model: AuditModel, report: ReplayReport) -> None:
        decode = self._decoder.decode
        add = model.add
        malformed = model.stats.malformed
        read = added = 0
        for piece in slices:
            topic, partition, start, stop = piece.topic, piece.partition, piece.start, piece.stop
            for batch in piece.batches:
                for record in batch:
                    offset = record.offset
                    if offset < start or offset >= stop:
                        continue
                    read += 1
                    try:
                        event = decode(topic, partition, offset, record.value, record.headers)
                    except MalformedCloudEvent as exc:
                        if len(malformed) < _MAX_MALFORMED_KEPT:
                            malformed.append(f"{topic}/{partition}@{offset}: {exc}")
                        continue
                    if add(event):
                        added += 1
                # Let the event loop read the next response off the socket meanwhile.
                await asyncio.sleep(0)
        report.records += read
        report.added += added


@dataclass(frozen=True, slots=True)
class _Slice:
    topic: str
    partition: int
    start: int  # first offset wanted
    stop: int  # end offset (exclusive) of this pass
    batches: list[Any]


async def replay(
    bootstrap: str, topics: Sequence[str] | None = None, progress: Progress | None = None
) -> tuple[AuditModel, ReplayReport]:
    """A fresh model of every event on the topics (default: the four public ones)."""
    model = AuditModel()
    report = await TopicReader(bootstrap, topics).read_into(model, progress)
    return model, report
