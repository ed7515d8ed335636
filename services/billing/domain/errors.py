"""Billing's business-rule errors (mapped to HTTP once, in `shared.http.problems`).

shared.errors.DomainError
├── InvalidRequest (422)
│   ├── InvalidBillingAddress   a field of the postal address or the VAT id is not acceptable
│   ├── InvalidInvoiceEmail     not a syntactically valid e-mail address
│   └── NotACurrentContact      the billing contact named is no current contact of the customer
└── Forbidden (403)
    └── RequestRefused          support's request on behalf of a requester was refused
"""

from __future__ import annotations

from shared.errors import Forbidden, InvalidRequest


class InvalidBillingAddress(InvalidRequest):
    title = "Invalid billing address"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, field=field)
        self.field = field


class InvalidInvoiceEmail(InvalidRequest):
    title = "Invalid invoice e-mail address"


class NotACurrentContact(InvalidRequest):
    title = "Not a current contact person"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="contact_id")


class RequestRefused(Forbidden):
    title = "Request refused"
