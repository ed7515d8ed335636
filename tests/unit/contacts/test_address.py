"""Address validation and the change decision."""

from __future__ import annotations

import pytest

from services.contacts.domain.acting import Acting
from services.contacts.domain.address import Address, decide_change_address, validated
from services.contacts.domain.errors import InvalidAddress
from services.contacts.domain.events import CustomerAddressChanged

OWNER = Acting.account_owner("100001")


def test_valid_address_is_tidied() -> None:
    a = validated(Address(" Acme  GmbH ", "Hauptstr. 1", "10115", "Berlin", "de"))
    assert a == Address("Acme GmbH", "Hauptstr. 1", "10115", "Berlin", "DE")


@pytest.mark.parametrize(
    "address",
    [
        Address("Acme", "Hauptstr. 1", "1011", "Berlin", "DE"),
        Address("Acme", "Hauptstr. 1", "10115", "Berlin", "XX"),
        Address("Acme", "  ", "10115", "Berlin", "DE"),
        Address("Acme", "Ring 2", "10115", "Wien", "AT"),
    ],
)
def test_invalid_addresses_are_refused(address: Address) -> None:
    with pytest.raises(InvalidAddress):
        validated(address)


def test_unchanged_address_records_nothing() -> None:
    a = Address("Acme", "Hauptstr. 1", "10115", "Berlin", "DE")
    [event] = decide_change_address(None, a, OWNER)
    assert isinstance(event, CustomerAddressChanged)
    assert event.changed_by == "customer:100001"
    assert decide_change_address(a, a, OWNER) == []
