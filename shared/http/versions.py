"""Optimistic concurrency at the HTTP edge: the version a client read, as ETag / If-Match or in the body."""

from __future__ import annotations

from shared.content_tags import ANY, listed
from shared.errors import InvalidRequest

__all__ = ["ANY", "etag", "expected_version", "tag_in"]


def etag(version: int) -> str:
    return f'"{version}"'


def _refuse_empty(if_match: str) -> None:
    # A header with nothing in it names no read: a client's mistake, not a change made meanwhile.
    if not if_match.strip():
        raise InvalidRequest('If-Match is empty: send the ETag you read, e.g. "3", or leave the header out')


def tag_in(if_match: str | None) -> str | None:
    """An If-Match header as the quoted tags it lists (`"a", "b"`, weak `W/` prefixes dropped),
    or `ANY` for `*`; `shared.content_tags.still_as_read` compares a resource's tag with it."""
    if if_match is None:
        return None
    _refuse_empty(if_match)
    if if_match.strip() == ANY:
        return ANY
    return ", ".join(listed(if_match))


def expected_version(if_match: str | None, body_version: int | None) -> int:
    """The version the client read: If-Match (the ETag) or the body's `version`; both must agree."""
    if if_match is not None and if_match.strip() != ANY:  # (`*` names no version: the body's must)
        _refuse_empty(if_match)
        tags = listed(if_match)
        if len(tags) > 1:  # an append expects one version of its stream
            raise InvalidRequest("If-Match must name the one ETag you read here, not a list")
        try:
            version = int(tags[0].strip('"'))
        except ValueError:
            raise InvalidRequest('If-Match must be the ETag you read, e.g. "3"') from None
        if version < 0:
            raise InvalidRequest('If-Match must be the ETag you read, e.g. "3"')
        if body_version is not None and body_version != version:
            raise InvalidRequest("If-Match and version disagree")
        return version
    if body_version is None:
        raise InvalidRequest("send the version you read (If-Match header or `version` field)")
    return body_version
