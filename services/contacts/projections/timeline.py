"""`AuthorizationTimelineProjection`: the customer's authorization history, for compliance.

One row per contact, grant, revocation, instruction and check event, with who recorded it
(the envelope's actor), who decided (`decided_by`) and on what basis. Expiries have no event;
`queries.authorization_history` merges them in from the grants' `valid_until`.
"""

from __future__ import annotations

from typing import Any

from shared.db import Connection
from shared.envelope import RecordedEvent

KINDS = {
    "ContactAdded": "contact_added",
    "ContactDetailsChanged": "contact_details_changed",
    "ContactRemoved": "contact_removed",
    "ContactAuthorized": "authorized",
    "ContactAuthorizationRevoked": "authorization_revoked",
    "OfficialInstructionIssued": "official_instruction_issued",
    "OfficialInstructionWithdrawn": "official_instruction_withdrawn",
    "AuthorizationChecked": "authorization_checked",
}

_DECIDER_FIELDS = ("granted_by", "revoked_by", "removed_by", "issued_by", "withdrawn_by", "agent")


def entry_key(stream_id: str, stream_version: int) -> str:
    return f"{stream_id}/{stream_version:010d}"


class AuthorizationTimelineProjection:
    name = "authorization-timeline"
    tables = ("authorization_timeline",)
    ddl = """
    CREATE TABLE IF NOT EXISTS authorization_timeline (
        customer_number text        NOT NULL,
        entry_key       text        NOT NULL,
        at              timestamptz NOT NULL,
        kind            text        NOT NULL,
        recorded_by     text        NOT NULL,
        decided_by      text,
        basis           text,
        contact_id      uuid,
        grant_id        uuid,
        details         jsonb       NOT NULL,
        metadata        jsonb       NOT NULL,
        PRIMARY KEY (customer_number, entry_key)
    );
    CREATE INDEX IF NOT EXISTS authorization_timeline_order ON authorization_timeline (customer_number, at, entry_key);
    """

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        kind = KINDS.get(event.event_type)
        if kind is None:
            return
        d: dict[str, Any] = dict(event.data)
        decided_by = next((str(d[f]) for f in _DECIDER_FIELDS if d.get(f)), None)
        await conn.execute(
            "INSERT INTO authorization_timeline (customer_number, entry_key, at, kind, recorded_by, decided_by, basis,"
            " contact_id, grant_id, details, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT DO NOTHING",
            event.customer_number,
            entry_key(event.stream_id, event.stream_version),
            event.occurred_at,
            kind,
            str(event.actor),
            decided_by,
            d.get("basis"),
            d.get("contact_id"),
            d.get("grant_id"),
            d,
            dict(event.metadata),
        )
