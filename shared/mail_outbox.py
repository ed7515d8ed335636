"""Mail queued by a command in its own transaction and sent once that committed (a mail outbox).

A command that must tell someone by e-mail queues a row in its transaction, so the mail cannot be
lost and is not sent for a command that rolled back. An `OutboxSender` per process claims queued
rows with `FOR UPDATE ... SKIP LOCKED` (every replica may run one), composes each, hands it to the
SMTP server and records the outcome in the same transaction. Delivery is at least once: a crash
between the server's acceptance and the commit sends that mail again. The sender is woken by the
store's commit notification (the queuing transaction appended events too) and polls besides.

What differs per kind of mail is its `MailOutbox`: which rows are due, what they say, and what is
recorded when a mail went out, failed, or cannot be addressed yet. The loop, the wake-up and the
logs are here, once. Logs name the outbox and the row, never a subject or a body.
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from shared.clock import Clock
from shared.db import Connection, Pool
from shared.eventstore.notifications import run_on_commits
from shared.mail import MailDeliveryFailed, Mailer, SmtpMailer

if TYPE_CHECKING:
    from shared.service import Runtime

log = structlog.get_logger(__name__)


class NotAddressable(Exception):
    """The mail cannot go yet (an address is not known): the row stays queued, the reason kept."""


class MailOutbox(Protocol):
    name: str  # for logs and the task
    key: str  # the column that identifies a row
    # Due rows with a `customer_number` column, at most $1, claimed `FOR UPDATE OF ... SKIP LOCKED`.
    pending_sql: str

    def compose(self, row: Any) -> EmailMessage:
        """The mail of a row; raises `NotAddressable` if it cannot be sent yet."""
        ...

    async def sent(self, conn: Connection, row: Any, message: EmailMessage, clock: Clock) -> None: ...

    async def failed(self, conn: Connection, row: Any, error: str) -> None: ...

    async def not_addressable(self, conn: Connection, row: Any, reason: str) -> None: ...


class OutboxSender:
    def __init__(
        self, pool: Pool, mailer: Mailer, clock: Clock, outbox: MailOutbox, *, poll_interval_s: float = 1.0
    ) -> None:
        self._pool = pool
        self._mailer = mailer
        self._clock = clock
        self.outbox = outbox
        self._poll_interval_s = poll_interval_s

    async def send_pending(self, limit: int = 20) -> int:
        """Send what is due and addressable; returns how many were sent."""
        outbox, sent = self.outbox, 0
        async with self._pool.acquire() as conn, conn.transaction():
            for row in await conn.fetch(outbox.pending_sql, limit):
                key = str(row[outbox.key])
                try:
                    message = outbox.compose(row)
                except NotAddressable as exc:
                    await outbox.not_addressable(conn, row, str(exc))
                    continue
                try:
                    await self._mailer.send(message)
                except MailDeliveryFailed as exc:
                    log.warning("outbox_mail_failed", outbox=outbox.name, key=key, error=str(exc))
                    await outbox.failed(conn, row, str(exc))
                    continue
                await outbox.sent(conn, row, message, self._clock)
                log.info("outbox_mail_sent", outbox=outbox.name, key=key, customer_number=row["customer_number"])
                sent += 1
        return sent

    async def send_all(self) -> int:
        sent = 0
        while (n := await self.send_pending()) > 0:
            sent += n
        return sent

    async def run(self) -> None:
        # Ends when the service closes its pool (hooks have no stop signal of their own).
        await run_on_commits(
            self._pool, self.send_all, asyncio.Event(), reader=self.outbox.name, poll_s=self._poll_interval_s
        )


def start_outbox_sender(runtime: Runtime, outbox: MailOutbox) -> OutboxSender:
    """A service's worker hook: send `outbox`'s mail from this process (the runtime's mailer, if a
    test put one there, else SMTP as configured)."""
    mailer = runtime.extras.get("mailer") or SmtpMailer(runtime.settings.smtp_host, runtime.settings.smtp_port)
    sender = OutboxSender(runtime.pool, mailer, runtime.clock, outbox)
    # (the runtime keeps the task referenced: the event loop holds tasks only weakly)
    runtime.extras[f"{outbox.name}_task"] = asyncio.get_running_loop().create_task(sender.run(), name=outbox.name)
    return sender
