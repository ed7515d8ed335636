"""The base of every request body: only text that can be encoded and stored.

JSON may carry two kinds of string that pydantic accepts but nothing downstream can take: the NUL
character (`\\u0000`; PostgreSQL's text and jsonb refuse it, so an event holding one cannot be
appended) and an unpaired UTF-16 surrogate (`\\ud800`; not Unicode text, so it cannot be encoded
as UTF-8 for a hash, a mail or the store). Found by tests/integration/test_every_route.py as
500s on free-text fields and on passwords and tokens. Refused here, once, as a 422 naming the
field, before a handler sees the body.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    SecretStr,
    StringConstraints,
    field_validator,
)


def storable(text: str) -> bool:
    """Text without NUL characters and without unpaired surrogates."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True  # (the common case: ASCII holds no surrogate)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _text_is_storable(cls, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and not storable(text):
            raise ValueError("text must not contain NUL characters or unpaired surrogates")
        return value


_JOINERS = {"\u200c", "\u200d"}  # (format characters that Persian or Indic names need)


def _one_line_of_text(value: str) -> str:
    # Control, format (e.g. the right-to-left override, which turns "gmbh" into "hbmg" on screen),
    # private-use and unassigned characters (categories C*) have no place in a name shown in mails
    # and listings.
    if any(unicodedata.category(ch).startswith("C") and ch not in _JOINERS for ch in value):
        raise ValueError("must not contain control, format or unassigned characters")
    return value


# A person's or company's name as shown to people: trimmed, not blank, one line of visible text.
DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_one_line_of_text)
]


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


# An optional one (an organisation, a function): left blank, it is not given.
OptionalDisplayName = Annotated[DisplayName | None, BeforeValidator(_blank_is_none)]
