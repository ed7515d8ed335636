"""Tells the account owner by e-mail about personnel changes (a contact left the organisation).

The command queues a row in `owner_notifications` in its own transaction; this notifier sends
the queued rows to the customer's reference e-mail address (known from identity.events, see
`shared/customers.py`) and marks them sent. Delivery is at least once: a crash
between the SMTP server's acceptance and the mark sends that e-mail again. Rows are claimed with
`FOR UPDATE SKIP LOCKED`, so every replica may run a notifier.
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from typing import Any

import structlog

from shared.clock import Clock
from shared.db import Pool
from shared.eventstore.notifications import run_on_commits
from shared.mail import MailDeliveryFailed, Mailer, build_message

log = structlog.get_logger(__name__)

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


class OwnerNotifier:
    def __init__(self, pool: Pool, mailer: Mailer, clock: Clock, *, poll_interval_s: float = 1.0) -> None:
        self._pool = pool
        self._mailer = mailer
        self._clock = clock
        self._poll_interval_s = poll_interval_s

    async def send_pending(self, limit: int = 20) -> int:
        """Send what is queued and addressable; returns how many were sent."""
        sent = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for row in await conn.fetch(_PENDING, limit):
                if not row["reference_email"]:
                    # identity has not told us the address yet: stays queued, tried again later.
                    await conn.execute(
                        "UPDATE owner_notifications SET last_error = 'reference e-mail unknown'"
                        " WHERE notification_id = $1",
                        row["notification_id"],
                    )
                    continue
                try:
                    await self._mailer.send(compose(row))
                except MailDeliveryFailed as exc:
                    log.warning(
                        "owner_notification_failed", notification_id=str(row["notification_id"]), error=str(exc)
                    )
                    await conn.execute(
                        "UPDATE owner_notifications SET attempts = attempts + 1, last_error = $2"
                        " WHERE notification_id = $1",
                        row["notification_id"],
                        str(exc),
                    )
                    continue
                await conn.execute(
                    "UPDATE owner_notifications SET sent_at = $2, sent_to = $3, attempts = attempts + 1,"
                    " last_error = NULL WHERE notification_id = $1",
                    row["notification_id"],
                    self._clock.now(),
                    row["reference_email"],
                )
                log.info("owner_notified", customer_number=row["customer_number"], kind=row["kind"])
                sent += 1
        return sent

    async def run(self) -> None:
        # Woken by the commit that queued a notice (the same transaction appended events, so the
        # store's NOTIFY fires), wherever that command ran; ends when the service closes its pool.
        await run_on_commits(
            self._pool, self.send_all, asyncio.Event(), reader="owner-notifier", poll_s=self._poll_interval_s
        )

    async def send_all(self) -> int:
        sent = 0
        while (n := await self.send_pending()) > 0:
            sent += n
        return sent
