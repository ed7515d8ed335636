"""Settings of the contacts service beyond the kernel's (read from the environment).

CONTACTS_AUTHZ_READER   memory (default): checks answer from the in-process copy (follower.py);
                        sql: from the projection's tables (less memory, one query round trip more)
"""

from __future__ import annotations

import os
from typing import Literal

ReaderKind = Literal["memory", "sql"]


def authorization_reader() -> ReaderKind:
    value = os.environ.get("CONTACTS_AUTHZ_READER", "memory").strip().lower()
    if value not in ("memory", "sql"):
        raise RuntimeError("CONTACTS_AUTHZ_READER must be memory or sql")
    return "sql" if value == "sql" else "memory"
