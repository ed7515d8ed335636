"""Read-side queries of the contacts service over its read-model tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.authorization.identifiers import abroad_match
from shared.db import Pool
from shared.pagination import after, encode_cursor


async def contacts_of(
    pool: Pool, customer_number: str, *, email: str | None = None, phone_e164: str | None = None
) -> list[dict[str, Any]]:
    """Current contacts, optionally those matching a normalised e-mail or phone (a national number
    heard also finds a caller from abroad, as the check does: `abroad_match`)."""
    rows = await pool.fetch(_CURRENT_CONTACTS + _PHONE_IS + _IN_ORDER, customer_number, email, phone_e164)
    abroad = abroad_match(phone_e164) if phone_e164 is not None else None
    if rows or abroad is None:
        return [dict(r) for r in rows]
    candidates = await pool.fetch(
        _CURRENT_CONTACTS + _PHONE_ENDS_IN + _IN_ORDER, customer_number, email, abroad.national
    )
    return [dict(r) for r in candidates if abroad(r["phone_e164"])]


_CURRENT_CONTACTS = """
SELECT contact_id, name, email, phone, phone_e164, organisation, organisation_kind, function, added_at,
       removed_at, removed_reason
FROM authz_contacts WHERE customer_number = $1 AND removed_at IS NULL AND ($2::text IS NULL OR email = $2)
"""
_PHONE_IS = " AND ($3::text IS NULL OR phone_e164 = $3)"
_PHONE_ENDS_IN = " AND right(phone_e164, length($3)) = $3"
_IN_ORDER = " ORDER BY added_at, contact_id"


# Events of the timeline, and the expiries that have no event: a grant's valid_until that has
# passed (by `now`) before any revocation.
_HISTORY = """
SELECT at, entry_key, kind, recorded_by, decided_by, basis, contact_id, grant_id, details FROM (
    SELECT at, entry_key, kind, recorded_by, decided_by, basis, contact_id, grant_id, details
    FROM authorization_timeline WHERE customer_number = $1
    UNION ALL
    SELECT valid_until, 'expiry/' || grant_id::text, 'authorization_expired', 'system:clock', granted_by, basis,
           contact_id, grant_id,
           jsonb_build_object('grant_id', grant_id, 'scopes', scopes, 'valid_from', valid_from,
                              'valid_until', valid_until)
    FROM authz_grants
    WHERE customer_number = $1 AND valid_until <= $2 AND (revoked_at IS NULL OR revoked_at > valid_until)
) t
WHERE (at, entry_key) > ($3, $4)
ORDER BY at, entry_key
LIMIT $5
"""


async def authorization_history(
    pool: Pool, customer_number: str, now: datetime, *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    after_at, after_key = after(cursor)
    rows = await pool.fetch(_HISTORY, customer_number, now, after_at, after_key, limit + 1)
    entries = [dict(r) for r in rows[:limit]]
    next_cursor = encode_cursor(entries[-1]["at"], entries[-1]["entry_key"]) if len(rows) > limit else None
    return entries, next_cursor
