"""The invoice address: countries, postcodes, VAT ids, lines, and the change decision."""

from __future__ import annotations

import pytest

from services.billing.domain.address import BillingAddress, decide_change_address, validated
from services.billing.domain.authority import account_owner
from services.billing.domain.errors import InvalidBillingAddress
from services.billing.domain.events import BillingAddressChanged
from services.billing.domain.vat import normalise_vat_id, vat_id_problem

OWNER = account_owner("100001")


def address(**fields: str | None) -> BillingAddress:
    base: dict[str, str | None] = {
        "recipient": "Acme GmbH",
        "street": "Hauptstr. 1",
        "postcode": "10115",
        "city": "Berlin",
        "country": "DE",
    }
    base.update(fields)
    return BillingAddress(**base)  # type: ignore[arg-type]


def test_a_valid_address_is_tidied() -> None:
    got = validated(
        address(recipient=" Acme   GmbH ", country="de", addition="  ", vat_id="de 136.695.976", postcode=" 10115")
    )
    assert got == BillingAddress("Acme GmbH", "Hauptstr. 1", "10115", "Berlin", "DE", None, "DE136695976")


@pytest.mark.parametrize(
    ("country", "postcode"),
    [
        ("DE", "01067"),
        ("DE", "99998"),
        ("AT", "1010"),
        ("AT", "6900"),
        ("CH", "8001"),
        ("CH", "1201"),
        ("LI", "9490"),
        ("NL", "1012 ab"),
        ("GB", "sw1a  1aa"),
        ("PL", "00-950"),
        ("US", "10001-1234"),
        ("FO", "100"),  # general rule
        ("BR", "01310-100"),
        ("JP", "100-0001"),
        ("CA", "K1A 0B1"),
        ("AE", ""),  # no postcodes there
        ("IE", ""),
    ],
)
def test_postcodes_of_each_country_are_accepted(country: str, postcode: str) -> None:
    assert validated(address(country=country, postcode=postcode)).country == country


@pytest.mark.parametrize(
    ("country", "postcode"),
    [
        ("DE", "1011"),
        ("DE", "101155"),
        ("DE", "00123"),  # never assigned
        ("DE", "D-10115"),
        ("DE", "1O115"),  # letter O
        ("DE", ""),
        ("AT", "10100"),
        ("AT", "0100"),
        ("AT", "A-1010"),
        ("CH", "800"),
        ("CH", "CH-8001"),
        ("CH", "0800"),
        ("LI", "8001"),
        ("NL", "0123 AB"),
        ("GB", "12345"),
        ("PL", "00950"),
        ("FO", "!!"),  # general rule
        ("FO", "A"),
        ("FO", "12345678901"),
        ("FO", "12--34"),
        ("FO", "-1234"),
    ],
)
def test_bad_postcodes_are_refused_naming_the_field(country: str, postcode: str) -> None:
    with pytest.raises(InvalidBillingAddress) as caught:
        validated(address(country=country, postcode=postcode))
    assert caught.value.field == "postcode"
    assert country in caught.value.detail


@pytest.mark.parametrize("country", ["XX", "DEU", "D", "", "UK", "EU", "12"])
def test_unknown_countries_are_refused(country: str) -> None:
    with pytest.raises(InvalidBillingAddress) as caught:
        validated(address(country=country))
    assert caught.value.field == "country"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("recipient", "   "),
        ("street", ""),
        ("city", "\t"),
        ("street", "Hauptstr. 1\x00"),
        ("recipient", "Acme\u200bGmbH"),  # zero-width space (format character)
        ("city", "B" * 101),
        ("addition", "x" * 101),
    ],
)
def test_empty_overlong_or_control_lines_are_refused(field: str, value: str) -> None:
    with pytest.raises(InvalidBillingAddress) as caught:
        validated(address(**{field: value}))
    assert caught.value.field == field


@pytest.mark.parametrize(
    "vat_id",
    [
        "DE136695976",
        "ATU13585627",
        "BE0403019261",
        "NL004495445B01",
        "EL094259216",
        "FR40303265045",
        "IT00743110157",
        "ESA12345674",
        "PL5260001246",
        "SE556012579001",
        "IE6388047V",
        "CY10259033P",
        "XI123456789",
        "CHE-116.281.710 MWST",
        "GB980780684",
    ],
)
def test_vat_ids_in_their_member_states_format_are_accepted(vat_id: str) -> None:
    # (EU ids with any EU address; a Swiss or British one with an address of its own country.)
    country = {"CHE": "CH", "GB9": "GB"}.get(vat_id[:3], "DE")
    assert vat_id_problem(normalise_vat_id(vat_id), country) is None


@pytest.mark.parametrize(
    ("vat_id", "country"),
    [
        ("DE136695978", "DE"),  # check digit
        ("DE13669597", "DE"),  # too short
        ("ATU13585626", "AT"),  # check digit
        ("AT13585627", "AT"),  # the U is missing
        ("NL004495445X01", "NL"),
        ("GR094259216", "GR"),  # Greece's VAT prefix is EL
        ("FR4030326504", "FR"),
        ("SE556012579002", "SE"),
        ("136695976", "DE"),  # no prefix, EU address
        ("XX123456789", "FR"),
        ("CHE11628171", "CH"),
        ("CHE-116.281.710 MWST", "DE"),  # valid, but an EU address needs an EU id
        ("GB980780684", "FR"),
        ("NO 123!", "NO"),  # non-EU: the general rule
    ],
)
def test_vat_ids_with_bad_formats_are_refused(vat_id: str, country: str) -> None:
    assert vat_id_problem(normalise_vat_id(vat_id), country) is not None


def test_a_bad_vat_id_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidBillingAddress) as caught:
        validated(address(vat_id="DE 136 695 978"))
    assert caught.value.field == "vat_id"
    assert "check digit" in caught.value.detail


def test_non_eu_vat_ids_pass_the_general_rule() -> None:
    assert vat_id_problem("NO923609016MVA", "NO") is None
    assert "prefix (for GR: EL)" in (vat_id_problem("094259216", "GR") or "")


def test_the_change_records_the_whole_address_and_who_asked_and_nothing_when_unchanged() -> None:
    wanted = address(addition="Buchhaltung", vat_id="DE136695976")
    [event] = decide_change_address("100001", None, wanted, OWNER)
    assert event == BillingAddressChanged(
        customer_number="100001",
        recipient="Acme GmbH",
        addition="Buchhaltung",
        street="Hauptstr. 1",
        postcode="10115",
        city="Berlin",
        country="DE",
        vat_id="DE136695976",
        requested_by="customer:100001",
        basis="portal_account_owner",
    )
    assert (
        decide_change_address(
            "100001", validated(wanted), address(addition=" Buchhaltung ", vat_id="de136695976"), OWNER
        )
        == []
    )


@pytest.mark.parametrize("version", [False, True, "2", 2.5])
def test_a_version_read_is_a_number_not_text_or_a_boolean(version: object) -> None:
    from pydantic import ValidationError

    from services.billing.api.schemas import Edit

    with pytest.raises(ValidationError):
        Edit.model_validate({"version": version})
    assert Edit.model_validate({"version": 2}).version == 2
