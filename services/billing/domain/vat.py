"""VAT identification numbers: normalised, and checked against the EU member states' formats.

An EU VAT id is the member state's prefix (Greece: EL, Northern Ireland: XI) and the national
number, in the formats the EU's VIES service documents. For DE and AT the check digit is
verified too. Swiss (CHE) and British (GB) ids are checked by format; other non-EU ids, which
have no common shape, only by a general rule. Whether the number is *registered* is VIES's
business; this module does no I/O.
"""

from __future__ import annotations

import re

from services.billing.domain.postal import EU_MEMBER_STATES

EU_VAT_FORMATS: dict[str, re.Pattern[str]] = {
    "AT": re.compile(r"^U[0-9]{8}$"),
    "BE": re.compile(r"^[01][0-9]{9}$"),
    "BG": re.compile(r"^[0-9]{9,10}$"),
    "CY": re.compile(r"^[0-9]{8}[A-Z]$"),
    "CZ": re.compile(r"^[0-9]{8,10}$"),
    "DE": re.compile(r"^[0-9]{9}$"),
    "DK": re.compile(r"^[0-9]{8}$"),
    "EE": re.compile(r"^[0-9]{9}$"),
    "EL": re.compile(r"^[0-9]{9}$"),
    "ES": re.compile(r"^([A-Z][0-9]{7}[A-Z0-9]|[0-9]{8}[A-Z])$"),
    "FI": re.compile(r"^[0-9]{8}$"),
    "FR": re.compile(r"^[0-9A-HJ-NP-Z]{2}[0-9]{9}$"),
    "HR": re.compile(r"^[0-9]{11}$"),
    "HU": re.compile(r"^[0-9]{8}$"),
    "IE": re.compile(r"^([0-9]{7}[A-W][A-IW]?|[0-9][A-Z+*][0-9]{5}[A-W])$"),
    "IT": re.compile(r"^[0-9]{11}$"),
    "LT": re.compile(r"^([0-9]{9}|[0-9]{12})$"),
    "LU": re.compile(r"^[0-9]{8}$"),
    "LV": re.compile(r"^[0-9]{11}$"),
    "MT": re.compile(r"^[0-9]{8}$"),
    "NL": re.compile(r"^[0-9]{9}B[0-9]{2}$"),
    "PL": re.compile(r"^[0-9]{10}$"),
    "PT": re.compile(r"^[0-9]{9}$"),
    "RO": re.compile(r"^[1-9][0-9]{1,9}$"),
    "SE": re.compile(r"^[0-9]{10}01$"),
    "SI": re.compile(r"^[0-9]{8}$"),
    "SK": re.compile(r"^[0-9]{10}$"),
    "XI": re.compile(r"^([0-9]{9}|[0-9]{12}|GD[0-4][0-9]{2}|HA[5-9][0-9]{2})$"),
}
OTHER_VAT_FORMATS: dict[str, re.Pattern[str]] = {
    "CHE": re.compile(r"^[0-9]{9}(MWST|TVA|IVA)?$"),
    "GB": re.compile(r"^([0-9]{9}|[0-9]{12}|GD[0-4][0-9]{2}|HA[5-9][0-9]{2})$"),
}
GENERAL_VAT_ID = re.compile(r"^[A-Z0-9]{4,20}$")
_SEPARATORS = re.compile(r"[\s.\-/]")

# The VAT prefix of an EU member state, where it differs from the ISO country code.
_PREFIX_OF_COUNTRY = {"GR": "EL"}


def normalise_vat_id(raw: str) -> str:
    """Upper-case, without spaces, dots, hyphens and slashes (`de 136.695.976` -> `DE136695976`)."""
    return _SEPARATORS.sub("", raw).upper()


def _de_check_digit_ok(number: str) -> bool:
    # ISO 7064 MOD 11,10, as the Bundeszentralamt für Steuern specifies for USt-IdNr.
    product = 10
    for digit in number[:8]:
        total = (int(digit) + product) % 10 or 10
        product = (2 * total) % 11
    return (11 - product) % 10 == int(number[8])


def _at_check_digit_ok(number: str) -> bool:
    # number = "U" + 8 digits; Luhn-like over the first seven digits, offset 4.
    digits = [int(d) for d in number[1:]]
    total = 0
    for i, d in enumerate(digits[:7]):
        if i % 2 == 1:
            d *= 2
            d = d // 10 + d % 10
        total += d
    return (10 - (total + 4) % 10) % 10 == digits[7]


_CHECK_DIGITS = {"DE": _de_check_digit_ok, "AT": _at_check_digit_ok}


def vat_id_problem(vat_id: str, country: str) -> str | None:
    """Why `vat_id` (normalised) is not acceptable for an address in `country`; None when it is."""
    prefix = vat_id[:2]
    if prefix in EU_VAT_FORMATS:
        number = vat_id[2:]
        if not EU_VAT_FORMATS[prefix].match(number):
            return f"{vat_id} does not have the format of a VAT id of {prefix}"
        check = _CHECK_DIGITS.get(prefix)
        if check is not None and not check(number):
            return f"{vat_id} has a wrong check digit"
        return None
    if country in EU_MEMBER_STATES:  # (a Swiss or British id too: an EU address needs an EU id)
        expected = _PREFIX_OF_COUNTRY.get(country, country)
        return f"an EU VAT id starts with its member state's prefix (for {country}: {expected})"
    for other_prefix, rule in OTHER_VAT_FORMATS.items():
        if vat_id.startswith(other_prefix):
            if rule.match(vat_id[len(other_prefix) :]):
                return None
            return f"{vat_id} does not have the format of a VAT id of {other_prefix}"
    if not GENERAL_VAT_ID.match(vat_id):
        return f"{vat_id} is not a VAT id (4 to 20 letters and digits)"
    return None
