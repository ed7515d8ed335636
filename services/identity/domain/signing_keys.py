"""When a token signing key signs, and when it may be retired (pure; the keys live in
`adapters/signing.py`).

A rotation adds a key that is published at once but signs only from `signs_from` on, a while
later: verifiers at other services learn keys from the JWKS, so they must have it before the
first token it signed reaches them. From then on the old key only verifies the tokens it signed
before; once the longest-lived of those has expired (plus a margin) it can be retired, and the
JWKS stops publishing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Protocol, TypeVar

from shared.auth.verifier import ACCESS_TOKEN_MAX_LIFETIME

# How long a JWKS answer may be cached (its Cache-Control max-age).
JWKS_MAX_AGE = timedelta(minutes=5)
# The longest an identity process goes without reloading its keys (its setting cannot be longer).
MAX_RELOAD_INTERVAL = timedelta(minutes=2)
# How long before signing a rotated key is published. Every identity process publishes it within
# MAX_RELOAD_INTERVAL; a JWKS answer fetched just before that may be served from a cache for
# JWKS_MAX_AGE; a verifier holding such an answer refetches at the first token naming the new key,
# but at most every 30 s (`shared.auth.verifier`). The rest is margin for clocks.
PUBLISH_AHEAD = JWKS_MAX_AGE + MAX_RELOAD_INTERVAL + timedelta(minutes=3)
# How long a superseded key stays published: the longest access token it may have signed just
# before it was superseded (the most any configuration allows, not today's setting: it may have
# been higher then), plus margin for clocks, the verifiers' leeway and a replica that took up the
# new key late (a rotation published less than MAX_RELOAD_INTERVAL ahead).
RETIRE_AFTER = ACCESS_TOKEN_MAX_LIFETIME + timedelta(minutes=10)


class ScheduledKey(Protocol):
    @property
    def kid(self) -> str: ...

    @property
    def signs_from(self) -> datetime: ...


K = TypeVar("K", bound=ScheduledKey)


@dataclass(frozen=True)
class KeyTimes:
    kid: str
    signs_from: datetime


def _by_start(keys: Sequence[K]) -> list[K]:
    return sorted(keys, key=lambda k: (k.signs_from, k.kid))


def signing_at(keys: Sequence[K], now: datetime) -> K:
    """The key that signs at `now`: the one that started last. (With a clock behind every key's
    start, the first key: something must sign.)"""
    if not keys:
        raise ValueError("no signing key")
    ordered = _by_start(keys)
    started = [k for k in ordered if k.signs_from <= now]
    return started[-1] if started else ordered[0]


def pending(keys: Sequence[K], now: datetime) -> list[K]:
    """Keys published but not signing yet."""
    return [k for k in _by_start(keys) if k.signs_from > now]


def retirable(keys: Sequence[K], now: datetime, after: timedelta = RETIRE_AFTER) -> list[K]:
    """Keys superseded (a later key started signing) at least `after` ago. Never the signing one."""
    ordered = _by_start(keys)
    signing = signing_at(ordered, now)
    return [key for key, successor in pairwise(ordered) if key is not signing and successor.signs_from <= now - after]
