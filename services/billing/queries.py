"""Read-side queries of the billing service over its read-model tables."""

from __future__ import annotations

from typing import Any

from shared.db import Pool
from shared.pagination import after, encode_cursor

_HISTORY = """
SELECT at, entry_key, kind, actor, requested_by, on_behalf_of, basis, outcome, grant_id, authorization_version,
       stream_version, details, metadata
FROM billing_history
WHERE customer_number = $1 AND (at, entry_key) > ($2, $3)
ORDER BY at, entry_key
LIMIT $4
"""


async def billing_history(
    pool: Pool, customer_number: str, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the history, oldest first; the cursor continues after the page's last entry."""
    after_at, after_key = after(cursor)
    rows = await pool.fetch(_HISTORY, customer_number, after_at, after_key, limit + 1)
    entries = [dict(r) for r in rows[:limit]]
    next_cursor = encode_cursor(entries[-1]["at"], entries[-1]["entry_key"]) if len(rows) > limit else None
    return entries, next_cursor
