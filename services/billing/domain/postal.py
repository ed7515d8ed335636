"""Countries and postcodes: what a deliverable invoice address needs.

Countries are ISO 3166-1 alpha-2 codes (the officially assigned ones, plus XK for Kosovo, which
the EU and most postal systems use). Postcodes are checked against the country's own shape where
we know it, including the ranges that are never assigned (DE has no postcode starting with 00,
AT and CH none starting with 0); elsewhere a general rule accepts what postal systems use
(letters, digits, one space or hyphen between them). A few countries have no postcodes at all;
there the postcode may be left empty.
"""

from __future__ import annotations

import re


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


COUNTRIES = _codes(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW
    """
)

EU_MEMBER_STATES = _codes("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK")

# Postcodes as the country writes them (after upper-casing and collapsing spaces).
POSTCODE_RULES: dict[str, re.Pattern[str]] = {
    "DE": re.compile(r"^(?!00)[0-9]{5}$"),
    "AT": re.compile(r"^[1-9][0-9]{3}$"),
    "CH": re.compile(r"^[1-9][0-9]{3}$"),
    "LI": re.compile(r"^94(8[5-9]|9[0-8])$"),
    "BE": re.compile(r"^[1-9][0-9]{3}$"),
    "DK": re.compile(r"^[1-9][0-9]{3}$"),
    "LU": re.compile(r"^[0-9]{4}$"),
    "NL": re.compile(r"^[1-9][0-9]{3} ?[A-Z]{2}$"),
    "FR": re.compile(r"^[0-9]{5}$"),
    "IT": re.compile(r"^[0-9]{5}$"),
    "ES": re.compile(r"^(0[1-9]|[1-4][0-9]|5[0-2])[0-9]{3}$"),
    "PL": re.compile(r"^[0-9]{2}-[0-9]{3}$"),
    "CZ": re.compile(r"^[1-7][0-9]{2} ?[0-9]{2}$"),
    "SK": re.compile(r"^[089][0-9]{2} ?[0-9]{2}$"),
    "SE": re.compile(r"^[1-9][0-9]{2} ?[0-9]{2}$"),
    "PT": re.compile(r"^[1-9][0-9]{3}-[0-9]{3}$"),
    "GB": re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}|GIR ?0AA)$"),
    "US": re.compile(r"^[0-9]{5}(-[0-9]{4})?$"),
}
GENERAL_POSTCODE = re.compile(r"^[A-Z0-9]([A-Z0-9]|[ -](?=[A-Z0-9])){1,9}$")
EXAMPLES = {"DE": "10115", "AT": "1010", "CH": "8001", "NL": "1012 AB", "PL": "00-950", "GB": "SW1A 1AA"}

# Countries without a postal code system, or where it is optional (IE), so an empty one is fine.
WITHOUT_POSTCODES = _codes(
    "AE AG AO AW BF BI BJ BO BS BZ CD CF CG CI CK CM DJ DM ER FJ GA GD GH GM GQ GY HK IE KI KM KN KP LY ML"
    " MO MR MW NR NU QA RW SB SC SL SR SS ST SY TD TF TG TK TL TO TV UG VU YE ZW"
)


def normalise_country(raw: str) -> str | None:
    """The ISO code of `raw` (any case, surrounding spaces), or None when it is not one."""
    code = raw.strip().upper()
    return code if code in COUNTRIES else None


def normalise_postcode(raw: str) -> str:
    return " ".join(raw.strip().upper().split())


def postcode_problem(country: str, postcode: str) -> str | None:
    """Why `postcode` (normalised) is not a postcode of `country`; None when it is."""
    if not postcode:
        return None if country in WITHOUT_POSTCODES else f"a postcode is required for {country}"
    rule = POSTCODE_RULES.get(country, GENERAL_POSTCODE)
    if rule.match(postcode):
        return None
    example = f" (for example {EXAMPLES[country]})" if country in EXAMPLES else ""
    return f"{postcode!r} is not a valid postcode for {country}{example}"
