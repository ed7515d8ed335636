"""Whether a service's copy of contacts' authorizations is current enough to act on for support.

Billing and domains decide support's requests on their own copies of `contacts.events` (a Kafka
consumer in their workers). A copy that lags (the worker down, or catching up after a
deployment) would decide on old facts: a contact whose grant contacts revoked a minute ago would
still be allowed. So each of their API processes watches how far the copy is behind the topic
and refuses support's requests on behalf of someone (503 with Retry-After, `TemporarilyRefused`)
while it is behind by more than `AUTHORIZATION_COPY_MAX_LAG_S`, or while that cannot be known
(Kafka or the database unreachable for that long). The account owner's own requests need no copy
and go on.

How far behind: every second the watcher asks Kafka for the end offsets of the topic's
partitions and the database for the offsets the copy has applied (`consumer_offsets`, written in
the transaction that applies the records). An end offset the copy has not reached is remembered
with the time it was first seen; the copy is behind since the oldest one it has not reached yet.
The lag so measured is at most one round (a second) short, and never counts a record the copy
applied within the round as lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared import metrics
from shared.db import Pool
from shared.errors import TemporarilyRefused
from shared.kafka import partitions_of
from shared.kafka_security import client_options
from shared.waiting import cancel_and_wait

if TYPE_CHECKING:
    from shared.service import Runtime

log = structlog.get_logger(__name__)


PARTITIONS_EVERY_S = 60.0  # how often the topic's partitions are looked up again (they rarely change)


class LagWatch:
    """Since when a copy has been behind a topic, from observations of both (pure)."""

    def __init__(self) -> None:
        # partition -> end offsets seen and not yet applied, with when each was first seen
        self._unapplied: dict[int, deque[tuple[int, float]]] = {}

    def observe(self, ends: Mapping[int, int], applied: Mapping[int, int], at: float) -> None:
        """`ends`: the topic's end offset per partition; `applied`: the copy's next offset per
        partition (missing: it has applied nothing there), both read at about `at`."""
        for partition, end in ends.items():
            seen = self._unapplied.setdefault(partition, deque())
            reached = applied.get(partition, 0)
            while seen and seen[0][0] <= reached:
                seen.popleft()
            if end > reached and (not seen or end > seen[-1][0]):
                seen.append((end, at))
        for gone in set(self._unapplied) - set(ends):  # (partitions do not go away; a recreated topic may)
            del self._unapplied[gone]

    def behind_since(self) -> float | None:
        """When the oldest record the copy has not applied was first seen; None: it is current."""
        oldest = [seen[0][1] for seen in self._unapplied.values() if seen]
        return min(oldest) if oldest else None


class CopyFreshness:
    """Watches one copy (the consumer `consumer` of `topic`) from an API process."""

    def __init__(
        self,
        pool: Pool,
        bootstrap: str,
        *,
        consumer: str,
        topic: str,
        max_lag_s: float,
        client_id: str,
        every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._bootstrap = bootstrap
        self.consumer = consumer
        self.topic = topic
        self.max_lag_s = max_lag_s
        self._client_id = client_id
        self._every_s = min(every_s, max_lag_s / 4)
        self._clock = clock
        self.watch = LagWatch()
        self.checked_at: float | None = None  # the last round that read both sides
        self._known_partitions: list[TopicPartition] = []
        self._partitions_at = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"copy-freshness:{self.consumer}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def ready(self) -> None:
        """For readiness: raises until a first round has read both sides (about a second)."""
        if self.checked_at is None:
            raise RuntimeError("the authorization copy has not been checked yet")

    def lag_s(self) -> float | None:
        """Seconds the copy is behind (0: current), or None when no round read both sides lately."""
        now = self._clock()
        if self.checked_at is None or now - self.checked_at > self.max_lag_s:
            return None
        since = self.watch.behind_since()
        return 0.0 if since is None else now - since

    def ensure_current(self, what: str) -> None:
        """Raises `TemporarilyRefused` unless the copy is known to be at most `max_lag_s` behind.
        `what`: the copy, as the caller will read it ("billing's copy of the authorizations")."""
        lag = self.lag_s()
        if lag is not None and lag <= self.max_lag_s:
            return
        retry = max(1, math.ceil(self._every_s * 2))
        if lag is None:
            detail = f"{what} cannot be checked against contacts right now"
        else:
            detail = f"{what} is {lag:.0f} s behind contacts"
        metrics.SUPPORT_REQUESTS_DEFERRED.labels(self.consumer).inc()
        raise TemporarilyRefused(
            f"{detail}: support cannot act on behalf of someone until it is current; try again shortly",
            retry_after_s=retry,
            copy_lag_s=None if lag is None else round(lag, 1),
        )

    async def _run(self) -> None:
        failing = False  # (logged once per outage, not every second of it)
        while True:
            kafka = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap, group_id=None, client_id=self._client_id, **client_options()
            )
            self._known_partitions = []  # (a new client knows no topic yet)
            try:
                await kafka.start()
                while True:
                    await self.round(kafka)
                    if failing:
                        failing = False
                        log.info("authorization_copy_check_recovered", consumer=self.consumer)
                    await asyncio.sleep(self._every_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not failing:
                    failing = True
                    log.warning("authorization_copy_check_failed", consumer=self.consumer, error=repr(exc))
                await asyncio.sleep(self._every_s)
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(kafka.stop(), timeout=5)

    async def round(self, kafka: AIOKafkaConsumer) -> None:
        partitions = await self._partitions(kafka)
        ends = await kafka.end_offsets(partitions) if partitions else {}
        rows = await self._pool.fetch(
            "SELECT partition, next_offset FROM consumer_offsets WHERE consumer = $1 AND topic = $2",
            self.consumer,
            self.topic,
        )
        now = self._clock()
        self.watch.observe({tp.partition: end for tp, end in ends.items()}, {r[0]: r[1] for r in rows}, now)
        self.checked_at = now
        since = self.watch.behind_since()
        metrics.AUTHORIZATION_COPY_BEHIND.labels(self.consumer).set(0.0 if since is None else now - since)

    async def _partitions(self, kafka: AIOKafkaConsumer) -> list[TopicPartition]:
        """The topic's partitions: asked for again only every `PARTITIONS_EVERY_S` (a metadata
        request each round would double the round's requests), or while the topic has none."""
        now = self._clock()
        if not self._known_partitions or now - self._partitions_at >= PARTITIONS_EVERY_S:
            self._known_partitions = await partitions_of(kafka, [self.topic])
            self._partitions_at = now
        return self._known_partitions


RUNTIME_KEY = "authorization_copy_freshness"  # where the service's runtime keeps its watcher


def ensure_copy_current(runtime: Runtime) -> None:
    """Before deciding support's request on behalf of someone on the service's copy."""
    freshness: CopyFreshness = runtime.extras[RUNTIME_KEY]
    freshness.ensure_current(f"the {runtime.spec.name} service's copy of the authorizations")
