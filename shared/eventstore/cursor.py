"""Where a reader of the event store stands, in a way that cannot skip an event.

The trap (DESIGN.md, step 4): positions from a sequence become visible out of order when
transactions commit out of order, so "position > last seen" silently skips the late committer.

The cursor therefore works with PostgreSQL snapshots of transaction ids. `done` is a snapshot
all of whose visible transactions have been read. A read takes a newer snapshot `target` and
returns, in (transaction id, position) order, the events of exactly those transactions that are
visible in `target` but were not in `done`. Transactions still running at `target` are in its
in-progress list and are therefore picked up by a later window once they commit; later
transactions that committed meanwhile are not held back. A window may be read in several pages
(`after` remembers the last key); when a page comes back short the window is complete and
`target` becomes `done`.

Within a window, (transaction id, position) order keeps every stream in version order: an
append reads the stream before it first writes, so the transaction that wrote the version it
builds on has a smaller id (the store also refuses the rare case where it would not).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# No transaction id is below 3; this snapshot sees nothing, i.e. "before the first event".
EMPTY_SNAPSHOT = "1:1:"


@dataclass(frozen=True, slots=True)
class Cursor:
    done: str = EMPTY_SNAPSHOT
    target: str | None = None
    after: tuple[int, int] | None = None

    @classmethod
    def start(cls) -> Cursor:
        return cls()

    def to_json(self) -> dict[str, Any]:
        return {"done": self.done, "target": self.target, "after": list(self.after) if self.after else None}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Cursor:
        after = raw.get("after")
        return cls(
            done=raw["done"],
            target=raw.get("target"),
            after=(int(after[0]), int(after[1])) if after else None,
        )
