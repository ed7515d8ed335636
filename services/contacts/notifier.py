"""Tells the account owner by e-mail about personnel changes (a contact left the organisation).

The command queues a row in `owner_notifications` in its own transaction; this outbox
(`shared.mail_outbox`) sends it to the customer's reference e-mail address (known from
identity.events, see `shared/customers.py`), at least once. A row whose address identity has not
told us yet stays queued and is tried again.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from shared.clock import Clock
from shared.db import Connection
from shared.mail import build_message
from shared.mail_outbox import NotAddressable

SENDER = "Hosting Accounts <no-reply@hosting-accounts.invalid>"

_PENDING = """
SELECT n.notification_id, n.customer_number, n.kind, n.payload, a.reference_email, a.name AS account_name,
       c.name AS contact_name
FROM owner_notifications n
LEFT JOIN customer_accounts a ON a.customer_number = n.customer_number
LEFT JOIN authz_contacts c ON c.customer_number = n.customer_number AND c.contact_id = (n.payload->>'contact_id')::uuid
WHERE n.sent_at IS NULL
ORDER BY n.created_at
LIMIT $1
FOR UPDATE OF n SKIP LOCKED
"""


def compose(row: Any) -> EmailMessage:
    payload = row["payload"]
    contact = row["contact_name"] or payload["contact_id"]
    revoked = payload.get("revoked_grants", [])
    lines = [
        f"Hello {row['account_name'] or ''}".rstrip() + ",",
        "",
        f"{contact} was recorded as having left your organisation on {payload['occurred_at'][:10]}"
        f" (decided by {payload['decided_by']}, recorded by {payload['recorded_by']}).",
        f"All {len(revoked)} authorization(s) of this person were revoked at once;"
        " support will no longer act on their requests.",
        "",
        "If this is not right, please contact us or review your contacts in the customer portal.",
    ]
    return build_message(
        sender=SENDER,
        to=row["reference_email"],
        subject=f"Customer {row['customer_number']}: {contact} has left your organisation",
        text="\n".join(lines),
    )


class OwnerNotifications:
    name = "owner-notifications"
    key = "notification_id"
    pending_sql = _PENDING

    def compose(self, row: Any) -> EmailMessage:
        if not row["reference_email"]:
            raise NotAddressable("reference e-mail unknown")
        return compose(row)

    async def sent(self, conn: Connection, row: Any, message: EmailMessage, clock: Clock) -> None:
        await conn.execute(
            "UPDATE owner_notifications SET sent_at = $2, sent_to = $3, attempts = attempts + 1,"
            " last_error = NULL WHERE notification_id = $1",
            row["notification_id"],
            clock.now(),
            row["reference_email"],
        )

    async def failed(self, conn: Connection, row: Any, error: str) -> None:
        await conn.execute(
            "UPDATE owner_notifications SET attempts = attempts + 1, last_error = $2 WHERE notification_id = $1",
            row["notification_id"],
            error,
        )

    async def not_addressable(self, conn: Connection, row: Any, reason: str) -> None:
        await conn.execute(
            "UPDATE owner_notifications SET last_error = $2 WHERE notification_id = $1", row["notification_id"], reason
        )
