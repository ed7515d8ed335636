"""The password rules (NIST SP 800-63B style): length and a blocklist, no composition rules.

* 12 to 128 characters, any Unicode. Passwords are NFKC-normalised first (before checking and
  before hashing) so that the same password typed on another keyboard or OS still matches.
* Refused: the most common passwords (the shipped list, compared case-insensitively), passwords
  containing the customer number (or staff user name) or the e-mail address or its local part,
  and passwords of fewer than three distinct characters ("aaaaaaaaaaaa").
"""

from __future__ import annotations

import unicodedata
from functools import cache
from importlib import resources

from services.identity.domain.errors import WeakPassword

MIN_LENGTH = 12
MAX_LENGTH = 128
_LIST_FILE = "common_passwords.txt"


def normalise(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    text = resources.files("services.identity.domain").joinpath(_LIST_FILE).read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def check_shape(password: str) -> None:
    """The rules that need no account: length, blocklist, repetition."""
    candidate = normalise(password)
    if len(candidate) < MIN_LENGTH:
        raise WeakPassword(f"The password needs at least {MIN_LENGTH} characters.", rule="too_short")
    if len(candidate) > MAX_LENGTH:
        raise WeakPassword(f"The password may have at most {MAX_LENGTH} characters.", rule="too_long")
    folded = candidate.casefold()
    if folded in common_passwords():
        raise WeakPassword("This password is too common. Choose another one.", rule="common")
    if len(set(folded)) < 3:
        raise WeakPassword("The password repeats too few characters.", rule="repetitive")


def check_new_password(password: str, *, subject: str, email: str | None) -> None:
    """Every rule, for a password about to be set for `subject` (customer number or user name)."""
    check_shape(password)
    folded = normalise(password).casefold()
    if subject and subject.casefold() in folded:
        raise WeakPassword("The password must not contain your customer number or user name.", rule="subject")
    if email:
        address = email.casefold()
        local = address.partition("@")[0]
        if address in folded or (len(local) >= 4 and local in folded):
            raise WeakPassword("The password must not contain your e-mail address.", rule="email")
