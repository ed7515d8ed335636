"""Tells the previous and the new invoice address that the invoice e-mail address changed.

A changed invoice address is a classic sign of an account takeover, so both ends hear of it:
the previous address (its owner can react if this was not them) and the new one (its owner
learns why invoices arrive). The change queues one row per recipient in `invoice_email_notices`
in its own transaction; this outbox (`shared.mail_outbox`) sends them, at least once. A failed
delivery is retried with a growing pause (up to 10 minutes), the error kept in the row.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from shared.clock import Clock
from shared.db import Connection
from shared.mail import build_message

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
    "written_instruction": "by our support team, carrying out your written instruction",
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


class InvoiceEmailNotices:
    name = "invoice-email-notices"
    key = "notice_id"
    pending_sql = _PENDING

    def __init__(self, sender: str) -> None:
        self._sender = sender

    def compose(self, row: Any) -> EmailMessage:
        return compose(row, self._sender)

    async def sent(self, conn: Connection, row: Any, message: EmailMessage, clock: Clock) -> None:
        await conn.execute(
            "UPDATE invoice_email_notices SET sent_at = $2, attempts = attempts + 1, last_error = NULL"
            " WHERE notice_id = $1",
            row["notice_id"],
            clock.now(),
        )

    async def failed(self, conn: Connection, row: Any, error: str) -> None:
        await conn.execute(
            # Back off (2, 4, 8 ... s, at most 10 minutes) so an outage is not hammered.
            "UPDATE invoice_email_notices SET attempts = attempts + 1, last_error = $2,"
            " next_attempt_at = now() + make_interval(secs => least(600, 2 ^ (attempts + 1)))"
            " WHERE notice_id = $1",
            row["notice_id"],
            error,
        )

    async def not_addressable(self, conn: Connection, row: Any, reason: str) -> None:
        raise AssertionError("every notice has its recipient")  # compose never refuses one
