"""The verified-token cache: a token verifies once, is served until its exp, and never after."""

from __future__ import annotations

import pytest

from services.contacts.api.token_cache import CachingTokenVerifier
from shared.auth.principal import Principal, PrincipalKind
from shared.auth.testing import TestTokenIssuer
from shared.auth.verifier import InvalidToken


class CountingVerifier:
    def __init__(self, issuer: TestTokenIssuer) -> None:
        self._inner = issuer.verifier()
        self.calls = 0

    async def verify(self, token: str) -> Principal:
        self.calls += 1
        return await self._inner.verify(token)


async def test_verified_once_then_cached_until_exp() -> None:
    issuer = TestTokenIssuer()
    inner = CountingVerifier(issuer)
    now = [1_000.0]
    cache = CachingTokenVerifier(inner, clock=lambda: now[0])
    token = issuer.customer("100001")["Authorization"].split()[1]
    for _ in range(3):
        principal = await cache.verify(token)
    assert principal.kind is PrincipalKind.CUSTOMER
    assert inner.calls == 1
    now[0] = 1e12  # long after exp
    with pytest.raises(InvalidToken):
        await cache.verify(token)


async def test_forged_tokens_are_never_cached() -> None:
    issuer, other = TestTokenIssuer(), TestTokenIssuer()
    cache = CachingTokenVerifier(issuer.verifier())
    forged = other.customer("100001")["Authorization"].split()[1]
    for _ in range(2):
        with pytest.raises(InvalidToken):
            await cache.verify(forged)


async def test_the_cache_is_bounded() -> None:
    issuer = TestTokenIssuer()
    cache = CachingTokenVerifier(issuer.verifier(), max_entries=2)
    for n in ("100001", "100002", "100003"):
        await cache.verify(issuer.customer(n)["Authorization"].split()[1])
    assert len(cache._verified) == 2
