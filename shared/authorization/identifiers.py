"""Normalised identifiers of a person, so a lookup matches what support hears on the phone.

E-mail addresses are compared case-insensitively (trimmed, lower-cased as a whole: mail systems
of our customers treat the local part case-insensitively in practice). Phone numbers become
E.164 (`+49301234567`) with `phonenumbers`; national numbers are read in the customer's default
region (DE), so "+49 (30) 123-4567", "0049 30 1234567" and "030 1234567" are the same number.
"""

from __future__ import annotations

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
    def heard(cls, kind: RequesterKind, raw: str) -> Requester:
        if kind is RequesterKind.EMAIL:
            return cls(kind, normalise_email(raw))
        if kind is RequesterKind.PHONE:
            return cls(kind, normalise_phone(raw))
        return cls(kind, raw.strip().lower())
