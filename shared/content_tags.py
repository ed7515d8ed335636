"""Strong ETags from a resource's content, where a stream's version is too coarse to be one.

A customer's contacts share one stream, as do a domain's redirects: the stream's version moves
with every sibling, so as If-Match it would refuse a change to one contact or redirect because
another changed. A hash of the resource's own fields conflicts exactly when what a client would
overwrite changed. Pure: the read models, the events and the aggregates compute the same tag.
"""

from __future__ import annotations

import hashlib
import json
import re


def content_tag(*fields: str | bool | None) -> str:
    """The quoted ETag of these field values (equal exactly when they are, `None` unlike `""`)."""
    text = json.dumps(list(fields), ensure_ascii=False)
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:24] + '"'


ANY = "*"  # If-Match: * (RFC 9110: "whatever is there now, as long as something is")

_TAG = r'(?:W/)?("[^"]*")'
_TAG_LIST = re.compile(rf"{_TAG}(?:\s*,\s*{_TAG})*")


def listed(if_match: str) -> tuple[str, ...]:
    """The quoted tags an If-Match value lists (`"a", W/"b"`: RFC 9110, section 13.1.1), a weak
    prefix dropped; a value that is no such list (a bare `3`) is read as one tag."""
    text = if_match.strip()
    if _TAG_LIST.fullmatch(text):
        return tuple(re.findall(_TAG, text))
    return ('"' + text.removeprefix("W/").strip('"') + '"',)


def still_as_read(if_match: str | None, current: str | None) -> bool:
    """Whether a change may go on: no If-Match sent, or it lists the resource's current tag, or
    it is `ANY` and the resource exists (`current` None: the resource is gone since)."""
    if if_match is None:
        return True
    if if_match.strip() == ANY:
        return current is not None
    return current in listed(if_match)
