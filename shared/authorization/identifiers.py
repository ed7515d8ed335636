"""Normalised identifiers of a person, so a lookup matches what support hears on the phone.

E-mail addresses are compared case-insensitively (trimmed, lower-cased as a whole: mail systems
of our customers treat the local part case-insensitively in practice). Phone numbers become
E.164 (`+49301234567`) with `phonenumbers`; national numbers support hears are read in the home
region (DE), so "+49 (30) 123-4567", "0049 30 1234567" and "030 1234567" are the same number.
(Contacts reads a contact's own number, as entered, in the customer's country.)

A caller from abroad gives their number as they dial it at home ("0664 1234567" in Austria),
which reads as a German number (+49 664 1234567). When that names no one, the readers look for
a contact whose number abroad has the same national number (+43 664 1234567): `abroad_match`.
It works from the normalised value alone, so a check recorded with it gives the same answer
when the audit asks again, and "as of T" stays a function of the events up to T.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

DEFAULT_REGION = "DE"


class InvalidIdentifier(ValueError):
    """Text that cannot be read as an e-mail address or phone number."""


def normalise_email(raw: str) -> str:
    email = raw.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or not domain or " " in email:
        raise InvalidIdentifier("not an e-mail address")
    return email


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidIdentifier("not a phone number") from None
    # "Possible" (length fits the country) rather than "valid" (in the current numbering plan):
    # the plan's metadata ages, and refusing a caller's real new number would be worse.
    if not phonenumbers.is_possible_number(number) or len(str(number.national_number)) < 5:
        raise InvalidIdentifier("not a possible phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


HOME_PREFIX = "+49"  # E.164 numbers of DEFAULT_REGION


@dataclass(frozen=True, slots=True)
class AbroadMatch:
    """Whether a number of another country has `national`, the national number of a home number
    heard ("+496641234567" matches "+436641234567"). `known`: a normalised number (E.164, as
    contacts store them); a number abroad must end with `national` (a reader may narrow by it).
    Italian numbers keep their leading 0 in E.164 ("+390471123456"), a caller dials the same
    digits at home ("0471 123456", read here as +49 471123456): compared without it."""

    national: str

    def __call__(self, known: str) -> bool:
        if known.startswith(HOME_PREFIX) or not known.endswith(self.national):
            return False  # (cheap tests first: parsing costs ~10 µs)
        try:
            number = phonenumbers.parse(known)
        except phonenumbers.NumberParseException:
            return False
        return str(number.national_number) == self.national  # (an int: without the leading 0)


def abroad_match(home_e164: str) -> AbroadMatch | None:
    """The test for numbers abroad of a number of the home country; None for a foreign number."""
    return AbroadMatch(home_e164[len(HOME_PREFIX) :]) if home_e164.startswith(HOME_PREFIX) else None


# Characters phonenumbers skips between the digits of a number (a subset of its punctuation).
_SEPARATORS = str.maketrans("", "", " ()-./")


def written_as_e164(raw: str) -> str | None:
    """`raw` without separators, if that leaves "+" and digits ("+49 (30) 123-4567" gives
    "+49301234567"); else None. Not a normalisation: see `Requester.heard` for when it is one."""
    text = raw.strip().translate(_SEPARATORS)
    digits = text[1:]
    if text[:1] == "+" and digits.isascii() and digits.isdigit():
        return text
    return None


class RequesterKind(StrEnum):
    CONTACT_ID = "contact_id"
    EMAIL = "email"
    PHONE = "phone"


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks support: a known contact id, or an e-mail / phone as heard (already normalised)."""

    kind: RequesterKind
    value: str

    @classmethod
    def heard(cls, kind: RequesterKind, raw: str, known_phone: Callable[[str], bool] | None = None) -> Requester:
        """`known_phone`: whether a contact's number was normalised to this E.164 text. A number
        written as one of them (separators aside) is that number: phonenumbers reads "+" and
        digits the same with or without separators, and an E.164 number it produced reads back
        as itself. That skips parsing (~12 µs) for most numbers support hears of known people."""
        if kind is RequesterKind.EMAIL:
            return cls(kind, normalise_email(raw))
        if kind is RequesterKind.PHONE:
            if known_phone is not None and (written := written_as_e164(raw)) is not None and known_phone(written):
                return cls(kind, written)
            return cls(kind, normalise_phone(raw))
        return cls(kind, raw.strip().lower())
