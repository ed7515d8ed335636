"""Domain names, host names and mailbox local parts: validated and normalised, or refused.

Names are read with IDNA 2008 and the UTS #46 mapping (the `idna` package: `Bücher.DE` becomes
`xn--bcher-kva.de`), then checked in their ASCII form, the form every DNS and mail system uses:

* at most 253 characters, at least two labels (a name and a top-level domain);
* every label 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen
  (IDNA refuses `--` in positions 3-4 unless the label is a valid `xn--` A-label);
* the top-level domain alphabetic (2 to 63 letters) or an A-label (`xn--...`), so `1.2.3.4`
  is not a domain name;
* no spaces, control or format characters anywhere (checked before IDNA maps anything away).

A name ordered as a domain must moreover be **registrable**: exactly one label under a public
suffix of the Public Suffix List's ICANN section (`example.de`, `example.co.uk`; not `co.uk`, not
`shop.example.de`, which is a host of `example.de` and would otherwise let one customer order a
name inside another customer's domain), under a top-level domain the list knows. The list is the
`publicsuffixlist` package's snapshot, pinned with the code. And no label of it may mix scripts
that are used to imitate each other (`paypal.de` written with a Cyrillic `a`): letters of one
script per label, or Latin together with the East Asian scripts (as `abc商店.jp`), the rule
browsers apply before they show a name in Unicode. Nor may a label written wholly in Cyrillic or
Greek consist only of letters that look Latin (`apple.de` spelt in Cyrillic letters):
Unicode's confusables data (the `confusable-homoglyphs` package) says which letters look like
ASCII ones; under a top-level domain of that script or of a country writing it (`.xn--p1ai`, `.ru`,
`.gr`, ...) such names are ordinary words and allowed. Whether the name is still free is the
registry's business. Local parts are the conservative ASCII subset every mail system accepts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import idna
from confusable_homoglyphs import confusables
from publicsuffixlist import PublicSuffixList

from services.domains.domain.errors import InvalidName

MAX_NAME_LENGTH = 253
MAX_INPUT_LENGTH = 1024  # far above any valid name (before mapping), refused before IDNA runs
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TLD = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")
_LOCAL_PART = re.compile(r"[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?")
# Unicode categories that never belong in a name: controls, format characters (zero-width
# joiners, bidi overrides), surrogates, private use, unassigned, and separators.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


@dataclass(frozen=True, slots=True, order=True)
class HostName:
    """A validated name: `ascii` (A-labels, lower case) is the identity; `unicode` is for display."""

    ascii: str
    unicode: str

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.ascii.split("."))

    def is_within(self, domain: str) -> bool:
        """This name is `domain` (ASCII form) or one of its subdomains."""
        return self.ascii == domain or self.ascii.endswith("." + domain)

    def __str__(self) -> str:
        return self.ascii


def has_forbidden_characters(text: str) -> bool:
    if text.isascii():  # the only such ASCII characters are the controls and the space
        return not text.isprintable() or " " in text
    return any(unicodedata.category(c) in _FORBIDDEN_CATEGORIES for c in text)


@lru_cache(maxsize=65536)
def parse_host(raw: str, *, what: str = "host name") -> HostName:
    """A fully qualified host name (a domain or a subdomain), or `InvalidName`.

    Pure, and IDNA is costly in Python, so answers are remembered (refusals are not: an
    exception is never cached, and the next caller gets a fresh one).
    """
    if not raw:
        raise InvalidName(f"the {what} is empty")
    if len(raw) > MAX_INPUT_LENGTH:
        raise InvalidName(f"the {what} is too long")
    if has_forbidden_characters(raw):
        raise InvalidName(f"the {what} contains spaces, control or invisible characters")
    text = raw[:-1] if raw.endswith(".") else raw  # the root's dot of a fully qualified name
    ascii_name = plain_ascii(text)
    if ascii_name is not None:
        unicode_name = ascii_name
    else:
        try:
            ascii_name = idna.encode(text, uts46=True, transitional=False, std3_rules=True).decode("ascii").lower()
            unicode_name = idna.decode(ascii_name)
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise InvalidName(f"the {what} is not a valid internationalised domain name: {_reason(exc)}") from None
    if len(ascii_name) > MAX_NAME_LENGTH:
        raise InvalidName(f"the {what} is longer than {MAX_NAME_LENGTH} characters (in its ASCII form)")
    labels = ascii_name.split(".")
    if len(labels) < 2:
        raise InvalidName(f"the {what} needs a name and a top-level domain (like example.de)")
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise InvalidName(f"the {what} has an invalid label {label[:63]!r}")
    if not _TLD.fullmatch(labels[-1]):
        raise InvalidName(f"the {what} has an invalid top-level domain {labels[-1]!r}")
    return HostName(ascii_name, unicode_name)


def plain_ascii(text: str) -> str | None:
    """`text` lower-cased, when IDNA would give exactly that: every label letters, digits and
    inner hyphens, none an A-label or with `--` at positions 3-4; else None (IDNA decides).

    Most names are such, and idna's per-character checks are the costliest part of a command.
    """
    if not text.isascii() or len(text) > MAX_NAME_LENGTH:
        return None
    lowered = text.lower()
    for label in lowered.split("."):
        if not _LABEL.fullmatch(label) or label[2:4] == "--":
            return None
    return lowered


def parse_domain(raw: str) -> HostName:
    return parse_host(raw, what="domain name")


# ICANN suffixes only: private ones (blogspot.com, ...) are hosting services' own subdomains,
# not names a registry hands out.
_SUFFIXES = PublicSuffixList(only_icann=True, accept_unknown=False)


# Scripts one label may combine: Japanese writes kanji, hiragana and katakana together, Korean
# hangul and hanja, and Latin letters go along with all of them.
_EAST_ASIAN = frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "HANGUL", "BOPOMOFO"})


def scripts_of(label: str) -> frozenset[str]:
    """The scripts of a label's letters, as their Unicode names begin (LATIN, CYRILLIC, GREEK,
    CJK, ...); digits, hyphens and combining marks belong to every script and are left out."""
    return frozenset(unicodedata.name(c, "?").split(" ", 1)[0] for c in label if unicodedata.category(c)[0] == "L")


def _mixed_script_label(name: HostName) -> str | None:
    if name.unicode.isascii():
        return None
    for label in name.unicode.split("."):
        scripts = scripts_of(label)
        if len(scripts) > 1 and not scripts <= _EAST_ASIAN:
            return label
    return None


# Top-level domains under which a label in that script is the country's own writing (as browsers
# treat them); the TLDs written in the script itself count too.
_SCRIPT_COUNTRIES = {
    "CYRILLIC": frozenset({"bg", "by", "kg", "kz", "mk", "mn", "rs", "ru", "su", "tj", "ua", "uz"}),
    "GREEK": frozenset({"cy", "gr"}),
}


@lru_cache(maxsize=4096)
def _looks_latin(letter: str) -> bool:
    """Unicode's confusables data names an ASCII letter or digit this letter is confused with."""
    found = confusables.is_confusable(letter, greedy=True, preferred_aliases=["latin"]) or ()
    return any(h["c"].isascii() and h["c"].isalnum() for entry in found for h in entry["homoglyphs"])


def _whole_script_lookalike(name: HostName) -> tuple[str, str] | None:
    """The label (under the public suffix) written in one non-Latin script whose every letter looks
    like a Latin one, and the script; unless the TLD is of that script's countries or written in it."""
    if name.unicode.isascii():
        return None
    label, _, suffix = name.unicode.partition(".")
    scripts = scripts_of(label)
    if len(scripts) != 1:
        return None
    (script,) = scripts
    tld = suffix.rsplit(".", 1)[-1]
    if script not in _SCRIPT_COUNTRIES or tld in _SCRIPT_COUNTRIES[script] or scripts_of(tld) == scripts:
        return None
    letters = {c for c in label if unicodedata.category(c)[0] == "L"}
    return (label, script) if all(_looks_latin(c) for c in letters) else None


def parse_registrable_domain(raw: str) -> HostName:
    """A domain name that can be ordered: one label under a known public suffix, no label mixing
    look-alike scripts, not wholly in letters that look Latin; or `InvalidName`."""
    name = parse_domain(raw)
    registrable = _SUFFIXES.privatesuffix(name.ascii)
    if registrable == name.ascii:
        mixed = _mixed_script_label(name)
        if mixed is not None:
            scripts = ", ".join(sorted(scripts_of(mixed)))
            raise InvalidName(f"the label {mixed!r} mixes scripts ({scripts}): such names imitate others")
        lookalike = _whole_script_lookalike(name)
        if lookalike is not None:
            label, script = lookalike
            raise InvalidName(
                f"the label {label!r} is written in {script.title()} letters that all look Latin: such names"
                " imitate others"
            )
        return name
    if registrable is not None:
        raise InvalidName(
            f"{name.ascii!r} is a host within {registrable!r}: order {registrable!r}, or add the host to it"
        )
    if _SUFFIXES.is_public(name.ascii):
        raise InvalidName(f"{name.ascii!r} is a public suffix: order a name under it")
    raise InvalidName(f"the domain name {name.ascii!r} has a top-level domain that does not exist")


def parse_host_within(raw: str, domain: str, *, what: str = "host name") -> HostName:
    """A host name that is `domain` itself or one of its subdomains."""
    host = parse_host(raw, what=what)
    if not host.is_within(domain):
        raise InvalidName(f"the {what} {host.ascii!r} is not {domain!r} or one of its subdomains")
    return host


def parse_local_part(raw: str) -> str:
    """The part of a mailbox address before the `@`: ASCII letters, digits and `. _ + -`."""
    # ASCII is checked before lower-casing: "\u212a".lower() (the Kelvin sign) is an ASCII "k".
    text = raw.lower() if raw.isascii() else ""
    if not _LOCAL_PART.fullmatch(text) or ".." in text:
        raise InvalidName(
            "the local part must be 1 to 64 of a-z, 0-9 and . _ + -, starting and ending with a letter or"
            " digit, without two dots in a row"
        )
    return text


def _reason(exc: Exception) -> str:
    # idna's messages quote the offending input; keep them short and printable.
    message = str(exc).split(" at position")[0]
    return "".join(c if c.isprintable() else "?" for c in message)[:120]
