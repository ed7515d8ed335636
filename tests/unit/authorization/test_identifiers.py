"""What support hears on the phone finds the person: e-mail and phone normalisation."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.authorization.identifiers import (
    InvalidIdentifier,
    Requester,
    RequesterKind,
    normalise_email,
    normalise_phone,
    written_as_e164,
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


# Numbers of known contacts, normalised: example numbers of several countries' numbering plans
# (Italy keeps a leading zero; Germany and the UK drop their trunk prefix "0").
KNOWN = sorted(
    {
        normalise_phone(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL))
        for region in ("DE", "AT", "CH", "GB", "IT", "FR", "NL", "US", "PL", "SE")
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    }
)


def _heard(raw: str, known: set[str] | None) -> Requester | str:
    try:
        return Requester.heard(RequesterKind.PHONE, raw, known.__contains__ if known is not None else None)
    except InvalidIdentifier:
        return "invalid"


def test_a_normalised_number_reads_back_as_itself() -> None:
    assert len(KNOWN) >= 15
    for number in KNOWN:
        assert normalise_phone(number) == number
        assert written_as_e164(number) == number


def test_written_as_e164_only_strips_separators() -> None:
    assert written_as_e164(" +49 (30) 123-45.67 ") == "+49301234567"
    assert written_as_e164("+49 (0)30 1234567") == "+490301234567"  # not normalised: a different text
    for other in (
        "030 1234567",
        "0049 30 1234567",
        "+49 30 1234567 ext. 5",
        "+\uff14\uff19301234567",
        "+",
        "tel:+4930",
    ):
        assert written_as_e164(other) is None


@given(
    number=st.sampled_from(KNOWN),
    separators=st.lists(st.sampled_from([" ", "-", "(", ")", ".", "/", "", "0"]), min_size=1, max_size=12),
    cut=st.integers(min_value=0, max_value=3),
)
def test_a_known_number_found_without_parsing_is_the_number_parsing_finds(
    number: str, separators: list[str], cut: int
) -> None:
    # The number as heard: separators (and a stray trunk "0") between its digits, some digits
    # perhaps lost; whatever the shortcut answers, parsing answers the same.
    digits = list(number[1 : len(number) - cut])
    raw = "+" + "".join(d + (separators[i % len(separators)] if i % 2 else "") for i, d in enumerate(digits))
    assert _heard(raw, set(KNOWN)) == _heard(raw, None)
