"""An in-memory event store with the same contract as the PostgreSQL one, for domain unit tests."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from shared.envelope import DomainEvent, EventContext, RecordedEvent
from shared.errors import ConcurrencyConflict
from shared.eventstore.cursor import Cursor
from shared.eventstore.port import EventBatch, Stream
from shared.registry import EventRegistry


class InMemoryEventStore:
    def __init__(self, registry: EventRegistry) -> None:
        self._registry = registry
        self._log: list[RecordedEvent] = []
        self._streams: dict[str, list[RecordedEvent]] = {}

    @property
    def registry(self) -> EventRegistry:
        return self._registry

    async def load(self, stream_id: str) -> Stream:
        events = list(self._streams.get(stream_id, ()))
        return Stream(stream_id, len(events), events)

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: EventContext,
    ) -> list[RecordedEvent]:
        stream = self._streams.setdefault(stream_id, [])
        if len(stream) != expected_version:
            raise ConcurrencyConflict(stream_id, expected_version, len(stream))
        recorded = [
            RecordedEvent(
                event_id=uuid.uuid4(),
                event_type=e.event_type,
                schema_version=e.schema_version,
                stream_id=stream_id,
                stream_version=expected_version + i + 1,
                customer_number=context.customer_number,
                occurred_at=context.occurred_at,
                actor=context.actor,
                correlation_id=context.correlation_id,
                causation_id=context.causation_id,
                data=self._registry.encode(e),
                metadata=dict(context.metadata),
                position=len(self._log) + i + 1,
            )
            for i, e in enumerate(events)
        ]
        stream.extend(recorded)
        self._log.extend(recorded)
        return recorded

    async def read_batch(self, cursor: Cursor, limit: int) -> EventBatch:
        # Single-threaded: the log order is the commit order, so a plain position suffices.
        start = cursor.after[1] if cursor.after else 0
        page = self._log[start : start + limit]
        if len(page) < limit:
            next_cursor = Cursor(done=cursor.done, after=(0, start + len(page)))
        else:
            next_cursor = Cursor(done=cursor.done, target="memory", after=(0, start + len(page)))
        return EventBatch(page, next_cursor)
