"""Tells the previous and the new invoice address that the invoice e-mail address changed.

A changed invoice address is a classic sign of an account takeover, so both ends hear of it:
the previous address (its owner can react if this was not them) and the new one (its owner
learns why invoices arrive). The change queues one row per recipient in `invoice_email_notices`
in its own transaction; this notifier sends them over SMTP and marks them sent. Delivery is at
least once (a crash between the server's acceptance and the mark sends that notice again). Rows
are claimed with `FOR UPDATE SKIP LOCKED`, so every replica may run a notifier; a failed delivery
is retried with a growing pause (up to 10 minutes), the error kept in the row.
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

_PENDING = """
SELECT n.notice_id, n.customer_number, n.recipient, n.role, n.payload, a.name AS account_name
FROM invoice_email_notices n
LEFT JOIN customer_accounts a ON a.customer_number = n.customer_number
WHERE n.sent_at IS NULL AND n.next_attempt_at <= now()
ORDER BY n.created_at, n.notice_id
LIMIT $1
FOR UPDATE OF n SKIP LOCKED
"""

_WHO = {
    "portal_account_owner": "in the customer portal, by the account owner",
    "contact_grant": "by our support team, at the request of a contact person authorized to manage billing data",
    "best_knowledge": "by our support team, to its best knowledge, at the request of a person who asked by phone"
    " or e-mail (no official instruction naming authorized persons is on file)",
}


def masked(email: str) -> str:
    """`a***@example.org`: enough to recognise an address, not enough to harvest it."""
    local, _, domain = email.rpartition("@")
    return f"{local[:1]}***@{domain}"


def compose(row: Any, sender: str) -> EmailMessage:
    payload = row["payload"]
    customer = row["customer_number"]
    when = payload["occurred_at"][:16].replace("T", " ") + " UTC"
    who = _WHO.get(payload["basis"], "by our support team")
    greeting = f"Hello {row['account_name'] or ''}".rstrip() + ","
    if row["role"] == "previous":
        subject = f"Customer {customer}: invoices will no longer be sent to this address"
        body = [
            greeting,
            "",
            f"on {when} the e-mail address for invoices of customer {customer} was changed {who}.",
            f"Invoices will from now on be sent to {masked(payload['email'])} instead of this address.",
            "",
            "If you did not ask for this, please contact us at once: someone may be trying to take over",
            "your customer account.",
        ]
    else:
        subject = f"Customer {customer}: invoices will be sent to this address"
        body = [
            greeting,
            "",
            f"on {when} this address was made the e-mail address for invoices of customer {customer}, {who}.",
            "",
            "If you did not expect this, please contact us.",
        ]
    return build_message(sender=sender, to=row["recipient"], subject=subject, text="\n".join(body))


class InvoiceEmailNotifier:
    def __init__(self, pool: Pool, mailer: Mailer, clock: Clock, sender: str, *, poll_interval_s: float = 1.0) -> None:
        self._pool = pool
        self._mailer = mailer
        self._clock = clock
        self._sender = sender
        self._poll_interval_s = poll_interval_s

    async def send_pending(self, limit: int = 20) -> int:
        """Send what is queued; returns how many were sent."""
        sent = 0
        async with self._pool.acquire() as conn, conn.transaction():
            for row in await conn.fetch(_PENDING, limit):
                try:
                    await self._mailer.send(compose(row, self._sender))
                except MailDeliveryFailed as exc:
                    log.warning("invoice_email_notice_failed", notice_id=str(row["notice_id"]), error=str(exc))
                    await conn.execute(
                        # Back off (2, 4, 8 ... s, at most 10 minutes) so an outage is not hammered.
                        "UPDATE invoice_email_notices SET attempts = attempts + 1, last_error = $2,"
                        " next_attempt_at = now() + make_interval(secs => least(600, 2 ^ (attempts + 1)))"
                        " WHERE notice_id = $1",
                        row["notice_id"],
                        str(exc),
                    )
                    continue
                await conn.execute(
                    "UPDATE invoice_email_notices SET sent_at = $2, attempts = attempts + 1, last_error = NULL"
                    " WHERE notice_id = $1",
                    row["notice_id"],
                    self._clock.now(),
                )
                log.info("invoice_email_notice_sent", customer_number=row["customer_number"], role=row["role"])
                sent += 1
        return sent

    async def run(self) -> None:
        # Woken by the commit that queued a notice (the same transaction appended events, so the
        # store's NOTIFY fires), wherever that command ran; ends when the service closes its pool.
        await run_on_commits(
            self._pool, self.send_all, asyncio.Event(), reader="invoice-email-notifier", poll_s=self._poll_interval_s
        )

    async def send_all(self) -> int:
        sent = 0
        while (n := await self.send_pending()) > 0:
            sent += n
        return sent
