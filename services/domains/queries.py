"""Read-side queries of the domains service over its read-model tables."""

from __future__ import annotations

from typing import Any

from shared.db import Pool


async def customer_contacts(pool: Pool, customer_number: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT contact_id, name, email, phone, organisation, function, added_at FROM customer_contacts"
        " WHERE customer_number = $1 ORDER BY added_at, contact_id",
        customer_number,
    )
    return [dict(r) for r in rows]
