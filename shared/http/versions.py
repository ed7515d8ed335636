"""Optimistic concurrency at the HTTP edge: the version a client read, as ETag / If-Match or in the body."""

from __future__ import annotations

from shared.content_tags import ANY
from shared.errors import InvalidRequest

__all__ = ["ANY", "etag", "expected_version", "tag_in"]


def etag(version: int) -> str:
    return f'"{version}"'


def tag_in(if_match: str | None) -> str | None:
    """An If-Match header as the quoted tag it names (a weak `W/` prefix dropped), or `ANY` for `*`."""
    if if_match is None:
        return None
    if if_match.strip() == ANY:
        return ANY
    return '"' + if_match.strip().removeprefix("W/").strip('"') + '"'


def expected_version(if_match: str | None, body_version: int | None) -> int:
    """The version the client read: If-Match (the ETag) or the body's `version`; both must agree."""
    tag = tag_in(if_match)
    if tag is not None and tag != ANY:  # (`*` names no version: the body's must)
        try:
            version = int(tag.strip('"'))
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
