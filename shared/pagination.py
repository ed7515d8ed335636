"""Keyset pagination over (instant, key), with an opaque cursor handed to the client."""

from __future__ import annotations

import base64
from datetime import datetime

from shared.errors import InvalidRequest

START = datetime.fromisoformat("0001-01-01T00:00:00+00:00")


def encode_cursor(at: datetime, key: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, key = raw.partition("|")
        instant = datetime.fromisoformat(at)
    except ValueError:
        raise InvalidRequest("the cursor is not one this service handed out") from None
    if instant.tzinfo is None or not key:
        raise InvalidRequest("the cursor is not one this service handed out")
    return instant, key


def after(cursor: str | None) -> tuple[datetime, str]:
    """Where a page starts: after the cursor's entry, or at the beginning."""
    return decode_cursor(cursor) if cursor else (START, "")
