"""The invoice e-mail address: syntax, and the change decision."""

from __future__ import annotations

import pytest

from services.billing.domain.authority import account_owner
from services.billing.domain.errors import InvalidInvoiceEmail
from services.billing.domain.events import InvoiceEmailChanged
from services.billing.domain.invoice_email import decide_change_invoice_email, validated

OWNER = account_owner("100001")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("invoices@example.org", "invoices@example.org"),
        ("  Invoices@Example.ORG ", "Invoices@example.org"),
        ("buchhaltung+rechnungen@sub.example.de", "buchhaltung+rechnungen@sub.example.de"),
        ("rechnung@münchen.de", "rechnung@münchen.de"),
    ],
)
def test_valid_addresses_are_tidied(raw: str, expected: str) -> None:
    assert validated(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plainaddress",
        "@example.org",
        "invoices@",
        "invoices@localhost",
        "in voices@example.org",
        "a..b@example.org",
        "invoices@example..org",
        "invoices@-example.org",
        "Invoices <invoices@example.org>",
        "invoices@[192.0.2.1]",
        "x" * 250 + "@example.org",
        "invoices@exam ple.org",
        "invoices@example.org\x00",
    ],
)
def test_invalid_addresses_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInvoiceEmail):
        validated(raw)


def test_the_change_names_the_previous_address_and_a_change_of_case_is_none() -> None:
    [first] = decide_change_invoice_email("100001", None, "invoices@example.org", OWNER)
    assert first == InvoiceEmailChanged(
        "100001", "invoices@example.org", None, "customer:100001", "portal_account_owner"
    )
    [second] = decide_change_invoice_email("100001", "invoices@example.org", "billing@example.org", OWNER)
    assert isinstance(second, InvoiceEmailChanged)
    assert second.previous_email == "invoices@example.org"
    assert decide_change_invoice_email("100001", "invoices@example.org", "INVOICES@example.org", OWNER) == []
