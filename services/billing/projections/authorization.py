"""Billing's own copy of who may ask support for what, from `contacts.events`.

The tables and rules are the kernel's `AuthorizationProjection` (the same model contacts and
domains build); billing adds `authz_versions`: per customer and contacts stream, the last
authorization event applied. It is written in the same transaction as the model change (the
consumer's), so "the copy is at version V" and "the copy contains what V brought" are the same
fact. Decisions record that version, and answers show it: a refusal after a revocation names
the very version contacts answered when it recorded the revocation.
"""

from __future__ import annotations

from shared.authorization.contract import AUTHORIZATION_EVENT_TYPES
from shared.authorization.projection import AuthorizationProjection
from shared.db import Connection
from shared.envelope import RecordedEvent
from shared.kafka import topic_for

VERSIONS_DDL = """
CREATE TABLE IF NOT EXISTS authz_versions (
    customer_number text        NOT NULL,
    stream_id       text        NOT NULL,
    stream_version  integer     NOT NULL,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    PRIMARY KEY (customer_number, stream_id)
);
"""

# Only ever forward: a re-delivered or re-published older event leaves the row alone.
_ADVANCE = """
INSERT INTO authz_versions AS v (customer_number, stream_id, stream_version, event_id, event_type, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (customer_number, stream_id) DO UPDATE
SET stream_version = EXCLUDED.stream_version, event_id = EXCLUDED.event_id, event_type = EXCLUDED.event_type,
    occurred_at = EXCLUDED.occurred_at
WHERE v.stream_version < EXCLUDED.stream_version
"""


class BillingAuthorizationProjection:
    name = "authorization"
    topics = (topic_for("contacts"),)
    tables = (*AuthorizationProjection.tables, "authz_versions")
    ddl = AuthorizationProjection.ddl + VERSIONS_DDL

    def __init__(self) -> None:
        self._model = AuthorizationProjection(self.topics)

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.event_type not in AUTHORIZATION_EVENT_TYPES:
            return  # contacts' other events (address, checks) change nobody's authority
        await self._model.apply(conn, event)
        await conn.execute(
            _ADVANCE,
            event.customer_number,
            event.stream_id,
            event.stream_version,
            event.event_id,
            event.event_type,
            event.occurred_at,
        )
