"""Sending e-mail: the `Mailer` port, an SMTP adapter over aiosmtplib, and message building.

Services send real SMTP in every environment (on one machine to the local sink,
`shared.infra.smtp_sink`). Mail bodies often carry secrets (a one-time password) or personal
data, so nothing here logs a subject or a body; the log says only that a message went out, with
its Message-ID and how many recipients it had.

    mailer = SmtpMailer(settings.smtp_host, settings.smtp_port)
    await mailer.send(build_message(sender=..., to=address, subject=..., text=...))
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import aiosmtplib
import structlog

from shared import metrics
from shared.errors import InfrastructureError

log = structlog.get_logger(__name__)


class MailDeliveryFailed(InfrastructureError):
    """The mail server could not be reached or refused the message."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def build_message(
    *, sender: str, to: str, subject: str, text: str, message_id_domain: str | None = None
) -> EmailMessage:
    """A plain-text UTF-8 message with Date and Message-ID set."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=message_id_domain or _domain_of(sender))
    message.set_content(text, charset="utf-8")
    return message


def _domain_of(sender: str) -> str:
    try:
        address = Address(addr_spec=sender.rpartition("<")[2].rstrip(">").strip())
        return address.domain or "localhost"
    except (ValueError, IndexError):
        return "localhost"


class SmtpMailer:
    """Delivers each message over its own SMTP connection (STARTTLS when the server offers it)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 10.0,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._timeout = timeout
        self._username = username
        self._password = password

    async def send(self, message: EmailMessage) -> None:
        recipients = len(message.get_all("To", [])) + len(message.get_all("Cc", [])) + len(message.get_all("Bcc", []))
        try:
            await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                timeout=self._timeout,
                username=self._username,
                password=self._password,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("mail_delivery_failed", message_id=message["Message-ID"], error=type(exc).__name__)
            metrics.MAIL_DELIVERIES.labels("failed").inc()
            raise MailDeliveryFailed(f"SMTP delivery via {self._host}:{self._port} failed") from exc
        log.info("mail_sent", message_id=message["Message-ID"], recipients=recipients)
        metrics.MAIL_DELIVERIES.labels("sent").inc()


class MemoryMailer:
    """A fake for unit tests: keeps what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        self.sent.append(message)
