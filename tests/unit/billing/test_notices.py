"""The notices about a changed invoice e-mail address: what each end is told."""

from __future__ import annotations

from services.billing.notices import compose, masked

PAYLOAD = {
    "email": "new-invoices@example.org",
    "previous_email": "old@example.org",
    "requested_by": "contact:1",
    "basis": "contact_grant",
    "actor": "staff:sam",
    "occurred_at": "2026-11-27T09:05:00+00:00",
}


def row(role: str, recipient: str) -> dict[str, object]:
    return {
        "customer_number": "100001",
        "recipient": recipient,
        "role": role,
        "payload": PAYLOAD,
        "account_name": "Acme GmbH",
    }


def test_the_previous_address_is_warned_and_sees_the_new_one_only_masked() -> None:
    message = compose(row("previous", "old@example.org"), "Billing <billing@example.net>")
    text = message.get_content()
    assert message["To"] == "old@example.org"
    assert "no longer" in message["Subject"]
    assert "n***@example.org" in text
    assert "new-invoices@example.org" not in text
    assert "take over" in text
    assert "2026-11-27 09:05 UTC" in text
    assert "authorized to manage billing data" in text
    assert text.startswith("Hello Acme GmbH,")


def test_the_new_address_is_told_why_invoices_arrive() -> None:
    message = compose(row("new", "new-invoices@example.org"), "Billing <billing@example.net>")
    assert message["To"] == "new-invoices@example.org"
    assert "will be sent to this address" in message["Subject"]
    assert "customer 100001" in message.get_content()


def test_masking_keeps_the_domain() -> None:
    assert masked("ada@example.org") == "a***@example.org"


def test_a_change_on_the_owners_written_instruction_says_so() -> None:
    letter = {**row("previous", "old@example.org"), "payload": {**PAYLOAD, "basis": "written_instruction"}}
    text = compose(letter, "Billing <billing@example.net>").get_content()
    assert "carrying out your written instruction" in text
    assert "take over" in text  # who did not write it should still call at once
