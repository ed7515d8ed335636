"""The event store's port: what handlers, the relay and projections rely on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shared.envelope import DomainEvent, EventContext, RecordedEvent
from shared.eventstore.cursor import Cursor


@dataclass(frozen=True, slots=True)
class Stream:
    stream_id: str
    version: int
    events: Sequence[RecordedEvent]


@dataclass(frozen=True, slots=True)
class EventBatch:
    events: Sequence[RecordedEvent]
    cursor: Cursor  # where to continue after these events

    @property
    def window_complete(self) -> bool:
        return self.cursor.target is None


class EventStore(Protocol):
    async def load(self, stream_id: str) -> Stream: ...

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[DomainEvent],
        context: EventContext,
    ) -> list[RecordedEvent]:
        """Append after `expected_version` (0: the stream must not exist yet).

        Raises ConcurrencyConflict when the stream is not at that version.
        """
        ...

    async def read_batch(self, cursor: Cursor, limit: int) -> EventBatch: ...
