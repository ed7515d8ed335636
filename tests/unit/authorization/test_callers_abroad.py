"""A caller from abroad gives the number they dial at home ("0664 1234567" in Austria), which
reads as a German number; the model then finds the contact whose number abroad has that national
number, unless someone holds the German reading itself."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.authorization.contract import ContactFacts
from shared.authorization.identifiers import Requester, RequesterKind, abroad_match
from shared.authorization.memory import CustomerAuthorizations
from shared.authorization.model import ContactRecord

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
VIENNA = uuid.UUID(int=1)
FULDA = uuid.UUID(int=2)
ZURICH = uuid.UUID(int=3)
BOLZANO = uuid.UUID(int=4)


def _model(*people: tuple[uuid.UUID, str, datetime]) -> CustomerAuthorizations:
    model = CustomerAuthorizations("100001")
    for contact_id, phone, at in people:
        model.contacts[contact_id] = ContactRecord(contact_id, at)
        facts = ContactFacts(contact_id, "P", f"{contact_id}@example.org", phone, phone, None, "customer", None)
        model.set_identifiers(contact_id, facts, at)
    return model


def _found(model: CustomerAuthorizations, heard: str, at: datetime) -> uuid.UUID | None:
    contact = model.resolve(Requester.heard(RequesterKind.PHONE, heard), at)
    return contact.contact_id if contact is not None else None


def test_a_national_number_heard_finds_the_contact_abroad_with_that_national_number() -> None:
    model = _model((VIENNA, "+436641234567", T0), (ZURICH, "+41445550005", T0))
    at = T0 + timedelta(hours=1)
    assert _found(model, "0664 123 45 67", at) == VIENNA
    assert _found(model, "044 555 00 05", at) == ZURICH
    assert _found(model, "+43 664 123 45 67", at) == VIENNA  # (heard with its country code, of course)
    assert _found(model, "0664 123 45 68", at) is None


def test_an_italian_number_is_found_by_the_digits_dialled_in_italy() -> None:
    # Italian numbers keep the 0 of their area code after +39; said at home: "0471 123456".
    model = _model((BOLZANO, "+390471123456", T0))
    assert _found(model, "0471 123456", T0 + timedelta(hours=1)) == BOLZANO
    assert _found(model, "+39 0471 123456", T0 + timedelta(hours=1)) == BOLZANO
    assert _found(model, "0471 123457", T0 + timedelta(hours=1)) is None


def test_whoever_holds_the_german_reading_comes_first() -> None:
    model = _model((VIENNA, "+436641234567", T0), (FULDA, "+496641234567", T0 + timedelta(hours=1)))
    assert _found(model, "0664 1234567", T0 + timedelta(minutes=30)) == VIENNA  # nobody held +49 664 … yet
    assert _found(model, "0664 1234567", T0 + timedelta(hours=2)) == FULDA


def test_the_number_abroad_is_found_only_while_its_contact_had_it() -> None:
    model = _model((VIENNA, "+436641234567", T0))
    assert _found(model, "0664 1234567", T0 - timedelta(minutes=1)) is None


def test_abroad_match_compares_national_numbers_of_other_countries_only() -> None:
    matches = abroad_match("+496641234567")
    assert matches is not None
    assert matches("+436641234567")
    assert not matches("+496641234567")  # the same number, not one abroad
    assert not matches("+4366412345670")
    assert not matches("+4316641234567")  # ends alike, but its national number is 16641234567
    italian = abroad_match("+49471123456")
    assert italian is not None
    assert italian("+390471123456")  # 0471 123456 in Bolzano
    assert not italian("+3904711234560")
    assert abroad_match("+436641234567") is None  # a number heard with its country code is that number
