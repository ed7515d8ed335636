"""Domain names, host names and local parts: a battery of bad inputs, and properties (hypothesis)."""

from __future__ import annotations

import re
import unicodedata

import idna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domains.domain.errors import InvalidName
from services.domains.domain.names import (
    has_forbidden_characters,
    parse_domain,
    parse_host,
    parse_host_within,
    parse_local_part,
    parse_registrable_domain,
    plain_ascii,
)

LDH = "abcdefghijklmnopqrstuvwxyz0123456789-"

BAD_NAMES = [
    "",
    "de",  # a TLD alone
    "example",  # no TLD
    ".example.de",
    "example..de",
    "example.de..",
    "-example.de",
    "example-.de",
    "ex--ample.de",  # hyphens in positions 3-4 without being an A-label
    "xn--abc.de",  # not valid Punycode
    "xn--.de",
    "exa_mple.de",
    "exa mple.de",
    " example.de",
    "example.de ",
    "example.de\n",
    "exa\tmple.de",
    "exa\x00mple.de",
    "exa\u200bmple.de",  # zero-width space
    "exa\u202emple.de",  # right-to-left override
    "a\u200db.de",  # zero-width joiner outside its allowed context
    "example.d",  # one-letter TLD
    "example.123",  # numeric TLD
    "1.2.3.4",  # an IPv4 address
    "example.de-",
    "example.x-y",
    "[::1]",
    "exam/ple.de",
    "exam@ple.de",
    "example.de:80",
    "http://example.de",
    "*.example.de",
    "a" * 64 + ".de",  # a label longer than 63
    ".".join(["a" * 63] * 4) + ".de",  # longer than 253
    "x" * 2000,
    "\U0001f600.de",  # emoji
    "exämple.d\u0000e",
]


@pytest.mark.parametrize("raw", BAD_NAMES, ids=lambda s: repr(s)[:40])
def test_bad_domain_names_are_refused(raw: str) -> None:
    with pytest.raises(InvalidName):
        parse_domain(raw)


@pytest.mark.parametrize(
    ("raw", "ascii_name", "unicode_name"),
    [
        ("example.de", "example.de", "example.de"),
        ("EXAMPLE.De", "example.de", "example.de"),
        ("example.de.", "example.de", "example.de"),  # fully qualified
        ("Bücher.de", "xn--bcher-kva.de", "bücher.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de", "bücher.de"),
        ("faß.de", "xn--fa-hia.de", "faß.de"),  # IDNA 2008: no transitional mapping to "fass"
        ("例え.テスト", "xn--r8jz45g.xn--zckzah", "例え.テスト"),
        ("my-shop.co.uk", "my-shop.co.uk", "my-shop.co.uk"),
        ("a.io", "a.io", "a.io"),
        ("1und1.de", "1und1.de", "1und1.de"),
        ("a" * 63 + ".de", "a" * 63 + ".de", "a" * 63 + ".de"),
    ],
)
def test_good_names_are_normalised(raw: str, ascii_name: str, unicode_name: str) -> None:
    name = parse_domain(raw)
    assert (name.ascii, name.unicode) == (ascii_name, unicode_name)


def test_hosts_within_a_domain() -> None:
    assert parse_host_within("www.example.de", "example.de").ascii == "www.example.de"
    assert parse_host_within("Example.DE", "example.de").ascii == "example.de"
    for outside in ("example.com", "badexample.de", "example.de.evil.com", "de"):
        with pytest.raises(InvalidName):
            parse_host_within(outside, "example.de")


_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_anything_is_refused_or_a_valid_normalised_name(raw: str) -> None:
    try:
        name = parse_host(raw)
    except InvalidName:
        return
    assert len(name.ascii) <= 253
    labels = name.ascii.split(".")
    assert len(labels) >= 2
    assert all(_LABEL_RE.fullmatch(label) for label in labels)
    assert re.fullmatch(r"[a-z]{2,63}|xn--[a-z0-9-]+", labels[-1])
    assert name.ascii == name.ascii.lower()
    assert name.ascii.isascii()
    again = parse_host(name.ascii)  # idempotent: the ASCII form is its own normal form
    assert again == name
    assert parse_host(name.unicode) == name


labels = st.text(alphabet=LDH, min_size=1, max_size=63).filter(
    lambda s: not s.startswith("-") and not s.endswith("-") and s[2:4] != "--"
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(labels, min_size=1, max_size=4), st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=10)
)
def test_ldh_names_with_an_alphabetic_tld_are_accepted(names: list[str], tld: str) -> None:
    raw = ".".join([*names, tld])
    if len(raw) > 253:
        return
    assert parse_domain(raw).ascii == raw


@settings(max_examples=200, deadline=None)
@given(
    st.lists(labels, min_size=1, max_size=3),
    st.sampled_from(["\x00", "\n", " ", "\t", "\u200b", "\u202e", "_", "/", "@", ":", "\x7f", "\ufeff"]),
    st.integers(min_value=0, max_value=200),
)
def test_a_forbidden_character_anywhere_is_refused(names: list[str], bad: str, where: int) -> None:
    raw = ".".join([*names, "de"])
    position = where % (len(raw) + 1)
    with pytest.raises(InvalidName):
        parse_domain(raw[:position] + bad + raw[position:])


@pytest.mark.parametrize("raw", ["info", "Max.Mustermann", "a", "x+tag", "first_last", "a-b.c", "0"])
def test_good_local_parts(raw: str) -> None:
    assert parse_local_part(raw) == raw.lower()


@pytest.mark.parametrize(
    "raw",
    ["", ".a", "a.", "a..b", "a b", "a@b", "ä", "a\n", "\u212a", "a" * 65, "-a", "a-", '"a"', "a,b", "a\x00"],
)
def test_bad_local_parts(raw: str) -> None:
    with pytest.raises(InvalidName):
        parse_local_part(raw)


@settings(max_examples=400)
@given(st.text(alphabet="aAzZ09-.x_n", min_size=1, max_size=40))
def test_plain_ascii_names_come_out_as_idna_would_make_them(text: str) -> None:
    plain = plain_ascii(text)
    if plain is None:
        return
    assert plain == idna.encode(text, uts46=True, transitional=False, std3_rules=True).decode("ascii").lower()
    assert idna.decode(plain) == plain


def test_names_idna_must_judge_are_left_to_it() -> None:
    for text in ("xn--bcher-kva.de", "ab--cd.de", "bücher.de", "-a.de", "a-.de", "a..de", "a_b.de", "a" * 64 + ".de"):
        assert plain_ascii(text) is None, text


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_forbidden_characters_are_the_categories_ones(text: str) -> None:
    assert has_forbidden_characters(text) == any(unicodedata.category(c) in FORBIDDEN for c in text)


FORBIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


@pytest.mark.parametrize(
    "raw",
    ["example.de", "Bücher.DE", "example.co.uk", "beispiel.xn--p1ai", "café.fr",
     "\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444",  # all Cyrillic, under .рф
     "\u043f\u0440\u0438\u043c\u0435\u04401-2.de",  # Cyrillic with digits and a hyphen
     "例え.jp", "abc商店.jp", "한국어.kr", "αβγ.gr",
     "\u043c\u043e\u0441\u043a\u0432\u0430.de",  # Moscow in Cyrillic: not every letter looks Latin
     "\u0431\u0443\u0440\u0433.de",  # -burg in Cyrillic: its first letter does not
     "\u0430\u0440\u0440\u04cf\u0435.\u0440\u0444",  # apple in Cyrillic under .xn--p1ai, a Cyrillic TLD
     "\u0441\u043e\u0441\u043e.ru", "\u03b1\u03c1\u03c1.gr"],  # coco in Cyrillic under .ru, app in Greek under .gr
)  # fmt: skip
def test_registrable_names_can_be_ordered(raw: str) -> None:
    assert parse_registrable_domain(raw) == parse_domain(raw)


@pytest.mark.parametrize(
    ("raw", "says"),
    [("shop.example.de", "a host within 'example.de'"), ("a.b.example.co.uk", "a host within 'example.co.uk'"),
     ("co.uk", "public suffix"), ("com.au", "public suffix"), ("example.notatld", "does not exist"),
     # blogspot.com is a private suffix (a hosting service's own subdomains), not a registry's
     ("foo.blogspot.com", "a host within 'blogspot.com'"),
     ("p\u0430ypal.de", r"mixes scripts \(CYRILLIC, LATIN\)"), ("\u03b1pple.com", r"mixes scripts \(GREEK, LATIN\)"),
     ("g\u043e\u043egle.de", "mixes scripts"), ("\u043fp\u0438\u043ce\u0440.de", "mixes scripts"),
     ("example.localhost", "does not exist"), ("example.example", "does not exist"),
     # wholly Cyrillic or Greek, every letter looking Latin: apple, scope, exo, op, app
     ("\u0430\u0440\u0440\u04cf\u0435.de", "written in Cyrillic letters that all look Latin"),
     ("\u0455\u0441\u043e\u0440\u0435.com", "Cyrillic letters that all look Latin"),
     ("\u0435\u0445\u043e.de", "Cyrillic letters that all look Latin"),
     ("\u03bf\u03c1.com", "written in Greek letters that all look Latin"),
     ("\u03b1\u03c1\u03c1-24.de", "Greek letters that all look Latin")],
)  # fmt: skip
def test_names_that_cannot_be_ordered_say_why(raw: str, says: str) -> None:
    with pytest.raises(InvalidName, match=says):
        parse_registrable_domain(raw)
