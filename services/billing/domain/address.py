"""The invoice address (stream `billing-address-<n>`): validated, and changed as a whole.

`validated` tidies what a person typed (spaces, case of codes) and refuses what a letter could
not be delivered with; `decide_change_address` turns a wanted address into the event, or into
nothing when it equals the current one. The stream's version is what a client sends back; the
handler compares it before deciding (a stale one is a conflict, HTTP 409).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from services.billing.domain.authority import Authority
from services.billing.domain.errors import InvalidBillingAddress
from services.billing.domain.events import BillingAddressChanged
from services.billing.domain.postal import normalise_country, normalise_postcode, postcode_problem
from services.billing.domain.vat import normalise_vat_id, vat_id_problem
from shared.envelope import DomainEvent

# Longest line a window envelope and most invoicing systems print (DIN 5008 allows 35 + margin).
MAX_LINE = 100


def stream_id(customer_number: str) -> str:
    return f"billing-address-{customer_number}"


@dataclass(frozen=True, slots=True)
class BillingAddress:
    recipient: str  # company or person the invoice is addressed to
    street: str  # street and house number, or PO box
    postcode: str
    city: str
    country: str  # ISO 3166-1 alpha-2
    addition: str | None = None  # department, c/o, building
    vat_id: str | None = None


def fold(events: Iterable[DomainEvent]) -> BillingAddress | None:
    address = None
    for event in events:
        if isinstance(event, BillingAddressChanged):
            address = BillingAddress(
                event.recipient, event.street, event.postcode, event.city, event.country, event.addition, event.vat_id
            )
    return address


def _line(field: str, value: str | None, *, required: bool) -> str | None:
    text = " ".join((value or "").split())
    if not text:
        if required:
            raise InvalidBillingAddress(field, f"{field} must not be empty")
        return None
    if len(text) > MAX_LINE:
        raise InvalidBillingAddress(field, f"{field} is longer than {MAX_LINE} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs", "Cn") for ch in text):
        raise InvalidBillingAddress(field, f"{field} contains control or unassigned characters")
    return text


def validated(wanted: BillingAddress) -> BillingAddress:
    """The address tidied; raises InvalidBillingAddress naming the first field that is wrong."""
    country = normalise_country(wanted.country)
    if country is None:
        raise InvalidBillingAddress("country", f"{wanted.country!r} is not an ISO 3166-1 alpha-2 country code")
    postcode = normalise_postcode(wanted.postcode)
    if (problem := postcode_problem(country, postcode)) is not None:
        raise InvalidBillingAddress("postcode", problem)
    vat_id = normalise_vat_id(wanted.vat_id) if wanted.vat_id else None
    if vat_id and (problem := vat_id_problem(vat_id, country)) is not None:
        raise InvalidBillingAddress("vat_id", problem)
    recipient = _line("recipient", wanted.recipient, required=True)
    street = _line("street", wanted.street, required=True)
    city = _line("city", wanted.city, required=True)
    assert recipient is not None
    assert street is not None
    assert city is not None
    addition = _line("addition", wanted.addition, required=False)
    return BillingAddress(recipient, street, postcode, city, country, addition, vat_id or None)


def decide_change_address(
    customer_number: str, current: BillingAddress | None, wanted: BillingAddress, authority: Authority
) -> list[DomainEvent]:
    address = validated(wanted)
    if address == current:
        return []
    return [
        BillingAddressChanged(
            customer_number=customer_number,
            recipient=address.recipient,
            addition=address.addition,
            street=address.street,
            postcode=address.postcode,
            city=address.city,
            country=address.country,
            vat_id=address.vat_id,
            requested_by=authority.requested_by,
            basis=authority.basis.value,
        )
    ]
