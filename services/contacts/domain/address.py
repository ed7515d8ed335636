"""The customer's address (stream `customer-address-<n>`): validated, changed as a whole.

The stream's version is what a client read and sends back (If-Match); a stale version makes the
append fail with a concurrency conflict (HTTP 409).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

from services.contacts.domain.acting import Acting
from services.contacts.domain.errors import InvalidAddress
from services.contacts.domain.events import CustomerAddressChanged
from shared.envelope import DomainEvent

# Known postcode shapes; other countries get the general rule.
_POSTCODES = {
    "DE": re.compile(r"^[0-9]{5}$"),
    "AT": re.compile(r"^[0-9]{4}$"),
    "CH": re.compile(r"^[0-9]{4}$"),
    "NL": re.compile(r"^[0-9]{4} ?[A-Z]{2}$"),
    "GB": re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$"),
    "US": re.compile(r"^[0-9]{5}(-[0-9]{4})?$"),
}
_GENERAL_POSTCODE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{1,9}$")
# ISO 3166-1 alpha-2 codes, as far as phonenumbers knows regions (all countries we bill).
COUNTRIES = frozenset(phonenumbers.SUPPORTED_REGIONS)


def stream_id(customer_number: str) -> str:
    return f"customer-address-{customer_number}"


@dataclass(frozen=True)
class Address:
    company: str
    street: str
    postcode: str
    city: str
    country: str


def fold(events: Iterable[DomainEvent]) -> Address | None:
    address = None
    for event in events:
        if isinstance(event, CustomerAddressChanged):
            address = Address(event.company, event.street, event.postcode, event.city, event.country)
    return address


def validated(address: Address) -> Address:
    country = address.country.strip().upper()
    if country not in COUNTRIES:
        raise InvalidAddress(f"unknown country code {address.country!r} (ISO 3166-1 alpha-2 expected)")
    postcode = " ".join(address.postcode.strip().upper().split())
    if not _POSTCODES.get(country, _GENERAL_POSTCODE).match(postcode):
        raise InvalidAddress(f"{address.postcode!r} is not a valid postcode for {country}")
    fields = {"company": address.company, "street": address.street, "city": address.city}
    cleaned = {k: " ".join(v.split()) for k, v in fields.items()}
    for name, value in cleaned.items():
        if not value:
            raise InvalidAddress(f"{name} must not be empty")
    return Address(cleaned["company"], cleaned["street"], postcode, cleaned["city"], country)


def decide_change_address(current: Address | None, wanted: Address, acting: Acting) -> list[DomainEvent]:
    address = validated(wanted)
    if address == current:
        return []
    return [
        CustomerAddressChanged(
            address.company, address.street, address.postcode, address.city, address.country, acting.decider
        )
    ]
