"""Domain states folded once and kept in memory, brought up to date from the store on every use.

A stream only grows and its events never change, so a state folded up to version v stays the
state at v for good. A command decides on the state held (`kept`) and appends at its version:
the append's expected version decides every race, so a state behind the store (another
replica appended) costs one refused INSERT and a read of the events after v (`current`, as a
rule one or two instead of the whole history). The cache is bounded (least recently used out
first); losing an entry only costs one full read.

Commands on one stream also take turns within the process (`turn`): without it, N concurrent
commands on one domain would race for the same version and all but one retry, N rounds deep.
Across replicas the expected version still settles every race.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from services.domains.domain.domains import Domain, evolve
from shared.db import Connection, Pool
from shared.envelope import DomainEvent, RecordedEvent
from shared.registry import EventRegistry

_SINCE = (
    "SELECT stream_version, event_type, schema_version, data, chain_hash FROM events"
    " WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version"
)


@dataclass(frozen=True, slots=True)
class Known:
    version: int
    head: bytes | None  # chain hash of the event at `version` (saves the append a lookup)
    state: Domain | None


NOTHING = Known(0, None, None)


class DomainStates:
    def __init__(self, registry: EventRegistry, limit: int = 100_000) -> None:
        self._registry = registry
        self._limit = limit
        self._known: OrderedDict[str, Known] = OrderedDict()
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def turn(self, stream_id: str) -> AsyncIterator[None]:
        """Hold the stream for one command in this process (locks exist only while wanted)."""
        lock, waiting = self._turns.get(stream_id) or (asyncio.Lock(), 0)
        self._turns[stream_id] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiting = self._turns[stream_id]
            if waiting == 1:
                del self._turns[stream_id]
            else:
                self._turns[stream_id] = (lock, waiting - 1)

    def kept(self, stream_id: str) -> Known | None:
        """The state held for the stream, possibly behind the store (the append will tell)."""
        return self._known.get(stream_id)

    async def current(self, conn: Pool | Connection, stream_id: str) -> Known:
        known = self._known.get(stream_id, NOTHING)
        rows = await conn.fetch(_SINCE, stream_id, known.version)
        if rows:
            state = known.state
            for row in rows:
                state = evolve(state, self._registry.decode_data(row["event_type"], row["schema_version"], row["data"]))
            known = Known(rows[-1]["stream_version"], rows[-1]["chain_hash"], state)
        self._remember(stream_id, known)
        return known

    def appended(
        self, stream_id: str, before: Known, events: Sequence[DomainEvent], recorded: Sequence[RecordedEvent]
    ) -> None:
        """Remember the state after our own append (the events we decided, now recorded)."""
        state = before.state
        for event in events:
            state = evolve(state, event)
        self._remember(stream_id, Known(recorded[-1].stream_version, recorded[-1].chain_hash, state))

    def _remember(self, stream_id: str, known: Known) -> None:
        if known.version == 0:
            return
        self._known[stream_id] = known
        self._known.move_to_end(stream_id)
        while len(self._known) > self._limit:
            self._known.popitem(last=False)
