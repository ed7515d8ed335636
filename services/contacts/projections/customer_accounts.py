"""Contacts' copy of each customer's account: its name and reference e-mail, from identity.events.

Used to tell the account owner about personnel changes without asking identity.

    CustomerAccountOpened    customer_number, name, reference_email
    ReferenceEmailChanged    reference_email (the customer is the envelope's customer number)
"""

from __future__ import annotations

from shared.db import Connection
from shared.envelope import RecordedEvent
from shared.kafka import topic_for


class CustomerAccountsProjection:
    name = "customer-accounts"
    topics = (topic_for("identity"),)
    tables = ("customer_accounts",)
    ddl = """
    CREATE TABLE IF NOT EXISTS customer_accounts (
        customer_number text PRIMARY KEY,
        name            text,
        reference_email text,
        opened_at       timestamptz,
        changed_at      timestamptz NOT NULL
    );
    """

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        d = event.data
        if event.event_type == "CustomerAccountOpened":
            await conn.execute(
                "INSERT INTO customer_accounts (customer_number, name, reference_email, opened_at, changed_at)"
                " VALUES ($1, $2, $3, $4, $4) ON CONFLICT (customer_number) DO UPDATE SET name = EXCLUDED.name,"
                " reference_email = EXCLUDED.reference_email, opened_at = EXCLUDED.opened_at,"
                " changed_at = EXCLUDED.changed_at",
                str(d.get("customer_number") or event.customer_number),
                d.get("name"),
                d.get("reference_email"),
                event.occurred_at,
            )
        elif event.event_type == "ReferenceEmailChanged":
            await conn.execute(
                "INSERT INTO customer_accounts (customer_number, reference_email, changed_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (customer_number) DO UPDATE SET reference_email = EXCLUDED.reference_email,"
                " changed_at = EXCLUDED.changed_at",
                event.customer_number,
                d.get("reference_email"),
                event.occurred_at,
            )
