"""The e-mail address invoices go to (stream `invoice-email-<n>`).

A change is a classic takeover signal (whoever controls the address receives the invoices, and
with them payment details), so the handler queues a notice to the previous and to the new
address in the same transaction as the event (`notices.py` delivers them).

Addresses are checked for syntax only (`email-validator`, no DNS: the domain layer does no I/O):
the domain part is lower-cased and IDNA-checked, the local part kept as typed.
"""

from __future__ import annotations

from collections.abc import Iterable

from email_validator import EmailNotValidError, validate_email

from services.billing.domain.authority import Authority
from services.billing.domain.errors import InvalidInvoiceEmail
from services.billing.domain.events import InvoiceEmailChanged
from shared.envelope import DomainEvent

MAX_LENGTH = 254  # RFC 5321's path limit, minus the angle brackets


def stream_id(customer_number: str) -> str:
    return f"invoice-email-{customer_number}"


def fold(events: Iterable[DomainEvent]) -> str | None:
    email = None
    for event in events:
        if isinstance(event, InvoiceEmailChanged):
            email = event.email
    return email


def validated(raw: str) -> str:
    text = raw.strip()
    if len(text) > MAX_LENGTH:
        raise InvalidInvoiceEmail(f"an e-mail address has at most {MAX_LENGTH} characters")
    try:
        return str(validate_email(text, check_deliverability=False, allow_display_name=False).normalized)
    except EmailNotValidError as exc:
        raise InvalidInvoiceEmail(f"not a valid e-mail address: {exc}") from None


def same_address(a: str, b: str) -> bool:
    # Mail systems treat local parts case-insensitively in practice; a change of case is no change.
    return a.lower() == b.lower()


def decide_change_invoice_email(
    customer_number: str, current: str | None, wanted: str, authority: Authority
) -> list[DomainEvent]:
    email = validated(wanted)
    if current is not None and same_address(current, email):
        return []
    return [
        InvoiceEmailChanged(
            customer_number=customer_number,
            email=email,
            previous_email=current,
            requested_by=authority.requested_by,
            basis=authority.basis.value,
        )
    ]
