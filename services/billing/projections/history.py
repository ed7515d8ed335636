"""`BillingHistoryProjection`: every change of a customer's billing data, and every refusal.

One row per billing event with who did it (the envelope's actor), on whose request, on what
basis, the authorization decision (outcome, grant, version of the copy) and the event's data.
Built from billing's own store; depends on the event alone, so a rebuild equals the live table.
"""

from __future__ import annotations

from typing import Any

from shared.db import Connection
from shared.envelope import RecordedEvent

KINDS = {
    "BillingAddressChanged": "billing_address_changed",
    "InvoiceEmailChanged": "invoice_email_changed",
    "BillingContactChanged": "billing_contact_changed",
    "SupportRequestRefused": "support_request_refused",
}


def entry_key(stream_id: str, stream_version: int) -> str:
    return f"{stream_id}/{stream_version:010d}"


def _authorization_version(metadata: dict[str, Any]) -> int | None:
    version = metadata.get("authorization_version")
    return int(version["stream_version"]) if isinstance(version, dict) else None


class BillingHistoryProjection:
    name = "billing-history"
    tables = ("billing_history",)
    ddl = """
    CREATE TABLE IF NOT EXISTS billing_history (
        customer_number       text        NOT NULL,
        entry_key             text        NOT NULL,
        at                    timestamptz NOT NULL,
        kind                  text        NOT NULL,
        actor                 text        NOT NULL,
        requested_by          text,
        on_behalf_of          text,
        basis                 text,
        outcome               text,
        grant_id              uuid,
        authorization_version integer,
        stream_version        integer     NOT NULL,
        details               jsonb       NOT NULL,
        metadata              jsonb       NOT NULL,
        PRIMARY KEY (customer_number, entry_key)
    );
    CREATE INDEX IF NOT EXISTS billing_history_order ON billing_history (customer_number, at, entry_key);
    """

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        kind = KINDS.get(event.event_type)
        if kind is None:
            return
        data: dict[str, Any] = dict(event.data)
        meta: dict[str, Any] = dict(event.metadata)
        refused = kind == "support_request_refused"
        await conn.execute(
            "INSERT INTO billing_history (customer_number, entry_key, at, kind, actor, requested_by, on_behalf_of,"
            " basis, outcome, grant_id, authorization_version, stream_version, details, metadata)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING",
            event.customer_number,
            entry_key(event.stream_id, event.stream_version),
            event.occurred_at,
            kind,
            str(event.actor),
            data.get("requested_by"),
            data.get("on_behalf_of") if refused else meta.get("on_behalf_of"),
            data.get("basis"),
            meta.get("outcome") or ("denied" if refused else None),
            meta.get("grant_id"),
            _authorization_version(meta),
            event.stream_version,
            data,
            meta,
        )
