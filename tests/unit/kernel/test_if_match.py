"""If-Match as the services read it (RFC 9110, section 13.1.1): a tag, a weak tag, a list of
tags, or `*`."""

from __future__ import annotations

import pytest

from shared.content_tags import content_tag, still_as_read
from shared.errors import InvalidRequest
from shared.http.versions import ANY, expected_version, tag_in

TAG = content_tag("Ada Lovelace", "ada@example.org")


@pytest.mark.parametrize("header", [TAG, f" {TAG} ", f"W/{TAG}", TAG.strip('"')])
def test_a_tag_is_read_as_the_quoted_tag_it_names(header: str) -> None:
    assert tag_in(header) == TAG


def test_no_header_asks_for_nothing_and_a_star_for_whatever_is_there() -> None:
    assert tag_in(None) is None
    assert tag_in("*") == tag_in(" * ") == ANY


def test_a_change_goes_on_only_as_the_header_allows() -> None:
    other = content_tag("Ada Byron", "ada@example.org")
    assert still_as_read(None, TAG)  # no precondition
    assert still_as_read(None, None)
    assert still_as_read(TAG, TAG)
    assert not still_as_read(TAG, other)  # changed since it was read
    assert not still_as_read(TAG, None)  # gone since it was read
    assert still_as_read(tag_in("*"), other)  # `*`: whatever is there now...
    assert not still_as_read(tag_in("*"), None)  # ...as long as something is


def test_a_list_lets_a_change_go_on_when_it_names_the_current_tag() -> None:
    other = content_tag("Ada Byron", "ada@example.org")
    gone = content_tag("Charles Babbage", "cb@example.org")
    header = tag_in(f"{gone}, W/{TAG} ,{other}")
    assert header == f"{gone}, {TAG}, {other}"
    assert still_as_read(header, TAG)
    assert still_as_read(header, other)
    assert not still_as_read(tag_in(f"{gone}, {other}"), TAG)
    assert not still_as_read(header, None)
    assert not still_as_read(tag_in('"a", junk'), '"a"')  # no list of tags: one (unmatched) tag


def test_a_version_comes_from_if_match_or_the_body_and_a_star_names_none() -> None:
    assert expected_version('"3"', None) == 3
    assert expected_version('W/"3"', 3) == 3
    assert expected_version(None, 4) == 4
    assert expected_version("*", 5) == 5
    for header, body in (("*", None), (None, None), ('"x"', None), ('"-1"', None), ('"3"', 4), ('"3", "4"', None)):
        with pytest.raises(InvalidRequest):
            expected_version(header, body)


@pytest.mark.parametrize("header", ["", "   "])
def test_an_empty_if_match_is_a_clients_mistake_not_a_conflict(header: str) -> None:
    with pytest.raises(InvalidRequest, match="If-Match is empty"):
        tag_in(header)
    with pytest.raises(InvalidRequest, match="If-Match is empty"):
        expected_version(header, None)
