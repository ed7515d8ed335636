"""The shared verifier remembers verified tokens until they expire, and never a forged one."""

from __future__ import annotations

import time

import pytest

from shared.auth import InvalidToken, PrincipalKind, Role
from shared.auth.principal import Principal
from shared.auth.testing import TestTokenIssuer
from shared.auth.verifier import VerifiedTokenCache


def _token(issuer: TestTokenIssuer, subject: str = "100001") -> str:
    return issuer.token(subject, PrincipalKind.CUSTOMER, [Role.CUSTOMER])


async def test_a_verified_token_is_served_from_the_cache() -> None:
    issuer = TestTokenIssuer()
    verifier = issuer.verifier()
    token = _token(issuer)
    assert verifier.cached(token) is None
    first = await verifier.verify(token)
    assert verifier.cached(token) == first
    assert await verifier.verify(token) == first


async def test_a_forged_signature_is_never_a_cache_hit() -> None:
    issuer = TestTokenIssuer()
    verifier = issuer.verifier()
    token = _token(issuer)
    await verifier.verify(token)
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}{'AAAA' if not signature.endswith('AAAA') else 'BBBB'}"
    with pytest.raises(InvalidToken):
        await verifier.verify(forged)


async def test_withdrawn_keys_empty_the_cache() -> None:
    issuer = TestTokenIssuer()
    verifier = issuer.verifier()
    token = _token(issuer)
    await verifier.verify(token)
    verifier.replace_keys({})
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


def test_expired_entries_are_dropped_and_the_size_is_bounded() -> None:
    principal = Principal("100001", PrincipalKind.CUSTOMER, frozenset({Role.CUSTOMER}))
    cache = VerifiedTokenCache(2)
    cache.put("expired", principal, time.time() - 60)
    assert cache.get("expired") is None
    for token in ("a", "b", "c"):
        cache.put(token, principal, time.time() + 60)
    assert cache.get("a") is None
    assert cache.get("b") == principal
    assert cache.get("c") == principal
    disabled = VerifiedTokenCache(0)
    disabled.put("a", principal, time.time() + 60)
    assert disabled.get("a") is None
