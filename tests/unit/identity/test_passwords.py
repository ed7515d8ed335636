"""The password rules: length, any Unicode, normalisation, the blocklist, personal data."""

from __future__ import annotations

import pytest

from services.identity.domain import passwords
from services.identity.domain.errors import WeakPassword


def _rule(password: str, subject: str = "100001", email: str | None = "ada@example.org") -> str | None:
    try:
        passwords.check_new_password(password, subject=subject, email=email)
    except WeakPassword as refused:
        return str(refused.extensions["rule"])
    return None


def test_length_from_12_to_128_characters() -> None:
    assert _rule("abcdefghijk") == "too_short"
    assert _rule("mauve-otter!") is None
    assert _rule("xyz" * 42 + "ab") is None  # 128
    assert _rule("xyz" * 43) == "too_long"  # 129


def test_any_unicode_counts_characters_not_bytes() -> None:
    assert _rule("пароль-пароль") is None
    assert _rule("密码密码密码密码密码密码") == "repetitive"  # only two distinct characters
    assert _rule("我的密码很长很安全吗") == "too_short"  # 10 characters, 30 bytes
    assert _rule("😀🦄🌈🍕 space 🚀✨🎉") is None


def test_passwords_are_nfkc_normalised() -> None:
    # A full-width password typed on another keyboard is the same password (and as weak).
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "password1234")
    assert passwords.normalise(full_width) == "password1234"
    assert _rule(full_width) == "common"
    # Composed and decomposed umlauts are one password.
    assert passwords.normalise("Gänseblümchen") == passwords.normalise("Ga\u0308nseblu\u0308mchen")


def test_common_passwords_are_refused_case_insensitively() -> None:
    assert len(passwords.common_passwords()) > 3000
    for common in ("password1234", "PASSWORD1234", "Qwertyuiop123", "123456789012", "iloveyou2024", "Passwort2025!"):
        assert _rule(common) == "common", common
    assert all(len(p) >= passwords.MIN_LENGTH for p in passwords.common_passwords())


def test_no_composition_rules() -> None:
    assert _rule("correct horse battery staple") is None
    assert _rule("alllowercaseletters") is None


def test_customer_number_and_email_are_refused() -> None:
    assert _rule("my number 100001 rocks", subject="100001") == "subject"
    assert _rule("ada@example.org-forever") == "email"
    assert _rule("ADA@EXAMPLE.ORG is me") == "email"
    assert _rule("call me ada please!", email="ada@example.org") is None  # local part shorter than 4
    assert _rule("lovelace-is-my-name", email="lovelace@example.org") == "email"
    assert _rule("ada lovelace 1815", email=None) is None


def test_the_shape_check_needs_no_account() -> None:
    with pytest.raises(WeakPassword):
        passwords.check_shape("short")
    passwords.check_shape("contains 100001 but shape is fine")
