"""Redirect targets: only absolute http(s) URLs to a named host, rebuilt from their parts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.domains.domain.errors import InvalidName
from services.domains.domain.urls import parse_target_url

BAD_TARGETS = [
    "",
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD4=",
    "file:///etc/passwd",
    "vbscript:msgbox(1)",
    "ftp://example.org/",
    "mailto:a@example.org",
    "//example.org/",  # scheme-relative
    "/relative/path",
    "example.org",
    "http:example.org",
    "http:/example.org",
    "https:///example.org",
    "https://",
    "https://user:pw@example.org/",
    "https://bank.example@evil.example/",
    "https://example.org@evil.example",
    "https://example.org\\@evil.example",
    "https:\\\\evil.example",
    "https://evil.example\\.good.example/",
    "https://example.org/\r\nSet-Cookie: x=1",
    "https://example.org/\nx",
    "https://example.org/a b",
    "https://example.org/\x00",
    "https://exa\u200bmple.org/",
    "https://example.org/\u202e",
    "https://127.0.0.1/",
    "https://[::1]/",
    "https://localhost/",
    "https://example/",
    "https://exa_mple.org/",
    "https://example.org:99999/",
    "https://example.org:0/",
    "https://example.org:http/",
    "https://ex%61mple.org/",
    "https://" + "a" * 64 + ".org/",
    "https://example.org/" + "a" * 2100,
]


@pytest.mark.parametrize("raw", BAD_TARGETS, ids=lambda s: repr(s)[:40])
def test_bad_targets_are_refused(raw: str) -> None:
    with pytest.raises(InvalidName):
        parse_target_url(raw)


@pytest.mark.parametrize(
    ("raw", "url"),
    [
        ("https://yx.de", "https://yx.de/"),
        ("HTTPS://YX.de/Path?q=1#top", "https://yx.de/Path?q=1#top"),
        ("http://example.org:8080/a/b", "http://example.org:8080/a/b"),
        ("https://bücher.de/straße", "https://xn--bcher-kva.de/stra%C3%9Fe"),
        ("https://example.org/a%20b", "https://example.org/a%20b"),
        ("https://example.org/?next=https://other.example", "https://example.org/?next=https://other.example"),
    ],
)
def test_good_targets_are_normalised(raw: str, url: str) -> None:
    assert parse_target_url(raw).url == url


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.sampled_from(["", "http://", "https://", "javascript:", "data:", "HTTPS://"]))
def test_whatever_is_accepted_is_a_clean_http_url(tail: str, prefix: str) -> None:
    try:
        target = parse_target_url(prefix + tail)
    except InvalidName:
        return
    url = target.url
    assert url.startswith(("http://", "https://"))
    assert url.isascii()
    assert url.isprintable()
    assert not any(c.isspace() or c == "\\" for c in url)
    netloc = url.split("://", 1)[1].split("/", 1)[0]
    assert "@" not in netloc
    assert parse_target_url(url) == target  # stable: the stored form parses to itself
