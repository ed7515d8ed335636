"""Domains' authorization read model: the shared `AuthorizationProjection`, plus a wake-up call.

The tables and rules are the shared ones (from contacts.events, run by domains' worker). Every
applied authorization event also NOTIFYs `authorization_changed` with its customer number, in
the same transaction, so it is delivered only at commit: each API process then drops what it
kept of that customer (`services/domains/authorizations.py`). A rebuild writes no notification
worth having (nobody listens in a scratch schema), and a notification has no effect on the tables;
a rebuilt copy put in place of the live one notifies `EVERYONE`: they drop all they kept.
"""

from __future__ import annotations

from shared.authorization import contract
from shared.authorization.projection import AuthorizationProjection
from shared.db import Connection
from shared.envelope import RecordedEvent

CHANNEL = "authorization_changed"
EVERYONE = "*"  # the payload when every customer's rows may have changed (no customer number)


class NotifyingAuthorizationProjection(AuthorizationProjection):
    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        await super().apply(conn, event)
        if event.event_type in contract.AUTHORIZATION_EVENT_TYPES:
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, event.customer_number)

    async def after_replace(self, conn: Connection) -> None:
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, EVERYONE)
