"""Domains' own copy of each customer's contact persons, built from `contacts.events`.

Domains never asks contacts synchronously; this table is what it knows about who the contacts
are (and, as the authorization issue lands, what they may do).
"""

from __future__ import annotations

from shared.db import Connection
from shared.envelope import RecordedEvent
from shared.kafka import topic_for


class CustomerContactsProjection:
    name = "customer-contacts"
    topics = (topic_for("contacts"),)
    tables = ("customer_contacts",)
    ddl = """
    CREATE TABLE IF NOT EXISTS customer_contacts (
        customer_number text NOT NULL,
        contact_id      uuid NOT NULL,
        name            text NOT NULL,
        email           text NOT NULL,
        phone           text,
        organisation    text,
        function        text,
        added_at        timestamptz NOT NULL,
        PRIMARY KEY (customer_number, contact_id)
    );
    """

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        if event.event_type == "ContactAdded":
            d = event.data
            await conn.execute(
                "INSERT INTO customer_contacts (customer_number, contact_id, name, email, phone, organisation,"
                " function, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (customer_number, contact_id) DO UPDATE SET name = EXCLUDED.name,"
                " email = EXCLUDED.email, phone = EXCLUDED.phone, organisation = EXCLUDED.organisation,"
                " function = EXCLUDED.function",
                event.customer_number,
                d["contact_id"],
                d["name"],
                d["email"],
                d.get("phone"),
                d.get("organisation"),
                d.get("function"),
                event.occurred_at,
            )
        elif event.event_type == "ContactDetailsChanged":
            d = event.data
            await conn.execute(
                "UPDATE customer_contacts SET name = $3, email = $4, phone = $5, organisation = $6, function = $7"
                " WHERE customer_number = $1 AND contact_id = $2",
                event.customer_number,
                d["contact_id"],
                d["name"],
                d["email"],
                d.get("phone"),
                d.get("organisation"),
                d.get("function"),
            )
        elif event.event_type == "ContactRemoved":
            # Only current contacts are kept here; who was authorized when is contacts' history.
            await conn.execute(
                "DELETE FROM customer_contacts WHERE customer_number = $1 AND contact_id = $2",
                event.customer_number,
                event.data["contact_id"],
            )
