"""Load the authorization model from an event store in one bulk read.

A process that keeps `AuthorizationMemory` (contacts' API processes, a compliance rebuild) folds
every authorization event of the store when it starts. Read as `RecordedEvent`s, each event's
row, JSON data and envelope would be decoded in Python and then parsed field by field again;
here PostgreSQL extracts and casts the contract's fields (`contract.FACT_COLUMNS`) on its own
core while Python folds the previous page, and the rows go straight into `contract.Fact`.
"""

from __future__ import annotations

import contextlib
import gc

from shared.authorization import contract
from shared.authorization.memory import AuthorizationMemory
from shared.eventstore.cursor import Cursor
from shared.eventstore.postgres import PostgresEventStore

_FACT = contract.Fact._make
_COLUMNS = f"position, {contract.FACT_COLUMNS}"  # a scan pages along the position; the fact follows it


async def load_authorizations(store: PostgresEventStore, memory: AuthorizationMemory) -> tuple[Cursor, int]:
    """Fold every authorization event committed so far into `memory`.

    Returns the cursor a follower reads on from (nothing committed after the load's snapshot is
    missed, nothing before it read twice) and how many events were folded.
    """
    apply = memory.apply_fact
    events = 0
    cursor = Cursor.start()
    # The fold creates hundreds of thousands of long-lived objects and no cycles: the cyclic
    # collector would only walk them again and again while they are made.
    enabled = gc.isenabled()
    gc.disable()
    try:
        scan = store.scan_rows(_COLUMNS, event_types=contract.AUTHORIZATION_EVENT_TYPES, page=10_000)
        async with contextlib.aclosing(scan) as pages:
            async for page in pages:
                for row in page.rows:
                    apply(_FACT(row[1:]))
                events += len(page.rows)
                cursor = Cursor(done=page.snapshot)
    finally:
        if enabled:
            gc.enable()
    return cursor, events
