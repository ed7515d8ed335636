"""The one-time password travels in the mail body only: not in the subject, not in the link."""

from __future__ import annotations

from datetime import UTC, datetime

from services.identity.adapters.mail_texts import one_time_password_mail, password_changed_mail

WHEN = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_code_only_in_the_body() -> None:
    mail = one_time_password_mail(
        sender="Accounts <no-reply@hosting.example>",
        to="ada@example.org",
        name="Ada",
        customer_number="100001",
        code="ABCDE23456",
        expires_at=WHEN,
        portal_url="https://portal.example/",
    )
    body = mail.get_content()
    assert "ABCDE-23456" in body
    assert "ABCDE" not in mail["Subject"]
    link = next(line.strip() for line in body.splitlines() if "https://" in line)
    assert link == "https://portal.example/password?customer=100001"
    assert mail["Message-ID"].endswith("@hosting.example>")


def test_password_changed_notice() -> None:
    mail = password_changed_mail(
        sender="no-reply@hosting.example",
        to="ada@example.org",
        name="Ada",
        customer_number="100001",
        changed_at=WHEN,
        portal_url="https://portal.example",
    )
    assert mail["Subject"] == "Your password was changed"
    assert "2026-11-27" in mail.get_content()
