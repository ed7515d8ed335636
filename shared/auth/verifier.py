"""Local verification of identity's access tokens (EdDSA-signed JWTs).

Checks signature (key chosen by `kid`), expiry, not-before, issuer and audience, and turns the
claims into a `Principal`. `JwksTokenVerifier` fetches identity's JWKS and caches the keys,
refetching (rate-limited) only when a token names a key it does not know, so a key rotation
needs no restart and a flood of forged `kid`s cannot make it hammer identity.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import jwt
from jwt.algorithms import OKPAlgorithm

from shared.auth.principal import Principal, PrincipalKind, Role

ISSUER = "hosting-accounts/identity"
AUDIENCE = "hosting-accounts"
ALGORITHM = "EdDSA"


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or not meant for us."""


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    try:
        kind = PrincipalKind(claims["kind"])
        roles = frozenset(Role(r) for r in claims.get("roles", ()))
        auth_time = claims.get("auth_time")
        return Principal(
            subject=str(claims["sub"]),
            kind=kind,
            roles=roles,
            session_id=claims.get("sid"),
            auth_time=datetime.fromtimestamp(auth_time, UTC) if auth_time else None,
        )
    except (KeyError, ValueError, TypeError):
        raise InvalidToken("token claims are incomplete") from None


class StaticKeyTokenVerifier:
    """Verifies against a fixed set of public keys (`kid` -> key object)."""

    def __init__(self, keys: Mapping[str, Any], *, audience: str = AUDIENCE, issuer: str = ISSUER) -> None:
        self._keys = dict(keys)
        self._audience = audience
        self._issuer = issuer

    def _key_for(self, token: str) -> Any:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise KeyError(kid)
        return key

    def decode(self, token: str, key: Any) -> Principal:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from None
        return principal_from_claims(claims)

    async def verify(self, token: str) -> Principal:
        try:
            key = self._key_for(token)
        except KeyError:
            raise InvalidToken("unknown signing key") from None
        return self.decode(token, key)

    def replace_keys(self, keys: Mapping[str, Any]) -> None:
        self._keys = dict(keys)


def keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for jwk in jwks.get("keys", ()):
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and "kid" in jwk:
            keys[jwk["kid"]] = OKPAlgorithm.from_jwk(jwk)
    return keys


class JwksTokenVerifier:
    def __init__(self, jwks_url: str, *, min_refresh_interval_s: float = 30.0) -> None:
        self._url = jwks_url
        self._static = StaticKeyTokenVerifier({})
        self._min_refresh = min_refresh_interval_s
        self._last_fetch = -1e9
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(self._url)
            response.raise_for_status()
            self._static.replace_keys(keys_from_jwks(response.json()))
        self._last_fetch = time.monotonic()

    async def verify(self, token: str) -> Principal:
        try:
            key = self._static._key_for(token)
        except KeyError:
            async with self._lock:
                if time.monotonic() - self._last_fetch >= self._min_refresh:
                    try:
                        await self.refresh()
                    except httpx.HTTPError:
                        raise InvalidToken("signing keys unavailable") from None
            try:
                key = self._static._key_for(token)
            except KeyError:
                raise InvalidToken("unknown signing key") from None
        return self._static.decode(token, key)
