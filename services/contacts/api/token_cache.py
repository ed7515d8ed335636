"""A verified-token cache in front of the token verifier, for the check's hot path.

Verifying an EdDSA signature costs about as much as the rest of a check. A support agent's or a
customer's token is sent with many requests during its short life, so the principal of a token
that verified once is kept until the token's own `exp` (the signature cannot change, the token
is the key). The cost: a signing key withdrawn from identity's JWKS stops being accepted only
when the tokens cached under it expire, i.e. after at most one token lifetime.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Callable

import orjson

from shared.auth.principal import Principal
from shared.auth.verifier import InvalidToken, TokenVerifier


def _expiry(token: str) -> float:
    payload = token.split(".")[1]
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return float(claims["exp"])


class CachingTokenVerifier:
    def __init__(
        self, inner: TokenVerifier, *, max_entries: int = 100_000, clock: Callable[[], float] = time.time
    ) -> None:
        self._inner = inner
        self._max_entries = max_entries
        self._clock = clock
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None:
            principal, expires = hit
            if self._clock() < expires:
                return principal
            del self._verified[token]
            raise InvalidToken("token expired")
        principal = await self._inner.verify(token)
        if len(self._verified) >= self._max_entries:
            self._verified.pop(next(iter(self._verified)))  # the oldest entry
        # Verified but without a readable exp (not identity's tokens): simply not cached.
        with contextlib.suppress(IndexError, ValueError, KeyError, TypeError):
            self._verified[token] = (principal, _expiry(token))
        return principal
