"""Which customers exist, as every service learns it from `identity.events`.

identity opens accounts; the other services keep their own copy (no synchronous call), built by
this one projection, and refuse data for customers they have never heard of.

    CustomerAccountOpened    customer_number, name, reference_email
    ReferenceEmailChanged    reference_email (the customer is the envelope's customer number)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.db import Connection, Pool
from shared.envelope import RecordedEvent
from shared.errors import NotFound
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


async def ensure_known_customer(db: Pool | Connection, customer_number: str) -> None:
    """404 for a customer this service has never heard of (from identity.events)."""
    known = await db.fetchval(
        "SELECT 1 FROM customer_accounts WHERE customer_number = $1 AND opened_at IS NOT NULL", customer_number
    )
    if known is None:
        raise NotFound("no such customer")


async def reference_email(db: Pool | Connection, customer_number: str) -> str | None:
    email: str | None = await db.fetchval(
        "SELECT reference_email FROM customer_accounts WHERE customer_number = $1", customer_number
    )
    return email


@dataclass
class KnownCustomers:
    """Customers seen in `customer_accounts` (from identity.events), remembered once seen.

    Accounts are never deleted, so a positive answer stays true and needs no invalidation; an
    unknown number is asked again every time (it may have been opened meanwhile).
    """

    limit: int = 1_000_000
    _known: set[str] = field(default_factory=set)

    async def ensure(self, db: Pool | Connection, customer_number: str) -> None:
        if customer_number in self._known:
            return
        await ensure_known_customer(db, customer_number)
        if len(self._known) < self.limit:
            self._known.add(customer_number)
