"""What support hears on the phone finds the person: e-mail and phone normalisation."""

from __future__ import annotations

import pytest

from shared.authorization.identifiers import (
    InvalidIdentifier,
    Requester,
    RequesterKind,
    normalise_email,
    normalise_phone,
)


@pytest.mark.parametrize(
    "heard", ["+49 (30) 123-4567", "0049 30 1234567", "030 1234567", "030/1234567", "+49301234567"]
)
def test_the_same_berlin_number_however_it_is_written(heard: str) -> None:
    assert normalise_phone(heard) == "+49301234567"


def test_foreign_numbers_keep_their_country() -> None:
    assert normalise_phone("+1 650 253 0000") == "+16502530000"
    assert normalise_phone("0043 1 5880") == "+4315880"


@pytest.mark.parametrize("nonsense", ["12", "call me", ""])
def test_nonsense_is_no_phone_number(nonsense: str) -> None:
    with pytest.raises(InvalidIdentifier):
        normalise_phone(nonsense)


def test_email_is_case_insensitive_and_trimmed() -> None:
    assert normalise_email("  Ada.Lovelace@Example.ORG ") == "ada.lovelace@example.org"
    with pytest.raises(InvalidIdentifier):
        normalise_email("no-at-sign")


def test_requester_as_heard_is_normalised() -> None:
    assert Requester.heard(RequesterKind.PHONE, "0049 30 1234567").value == "+49301234567"
    assert Requester.heard(RequesterKind.EMAIL, "ADA@example.org").value == "ada@example.org"
