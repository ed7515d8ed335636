"""`shared.mail` over real SMTP: delivery to the sink, a clear error when the server is away, quiet logs,
and each outcome counted for the operator's alert (`mail_deliveries_total`)."""

from __future__ import annotations

import pytest
import structlog
from prometheus_client import REGISTRY

from shared.infra.processes import free_port
from shared.infra.smtp_sink import SmtpSink
from shared.mail import MailDeliveryFailed, SmtpMailer, build_message

pytestmark = pytest.mark.integration


async def test_delivers_over_smtp_and_logs_neither_subject_nor_body(smtp_sink: SmtpSink) -> None:
    message = build_message(
        sender="Accounts <no-reply@hosting.example>",
        to="mail-test@example.org",
        subject="Subject canary 7f3a",
        text="Body canary ünïcode 9c1e\n",
    )
    sent_before = _deliveries("sent")
    with structlog.testing.capture_logs() as logs:
        await SmtpMailer("127.0.0.1", smtp_sink.port).send(message)
    assert _deliveries("sent") == sent_before + 1
    received = await smtp_sink.wait_for(lambda m: m["To"] == "mail-test@example.org")
    assert received["Subject"] == "Subject canary 7f3a"
    part = received.get_body(("plain",))
    assert part is not None
    assert part.get_content().rstrip() == "Body canary ünïcode 9c1e"
    assert received["Message-ID"].endswith("@hosting.example>")
    assert "mail_sent" in [entry["event"] for entry in logs]
    assert "canary" not in repr(logs)


async def test_an_unreachable_server_is_an_infrastructure_error() -> None:
    message = build_message(sender="a@example.org", to="b@example.org", subject="s", text="t")
    failed_before, sent_before = _deliveries("failed"), _deliveries("sent")
    with pytest.raises(MailDeliveryFailed):
        await SmtpMailer("127.0.0.1", free_port(), timeout=2).send(message)
    assert (_deliveries("failed"), _deliveries("sent")) == (failed_before + 1, sent_before)


def _deliveries(outcome: str) -> float:
    return REGISTRY.get_sample_value("mail_deliveries_total", {"outcome": outcome}) or 0.0
