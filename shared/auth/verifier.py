"""Local verification of identity's access tokens (EdDSA-signed JWTs).

Checks signature (key chosen by `kid`), expiry, not-before, issuer and audience, and turns the
claims into a `Principal`. `JwksTokenVerifier` fetches identity's JWKS and caches the keys,
refetching (rate-limited) when a token names a key it does not know, so a key rotation needs no
restart and a flood of forged `kid`s cannot make it hammer identity; and, before it verifies a
signature with keys fetched more than 5 minutes ago, refetching them too, so that a key identity
withdrew (retired, or compromised) stops verifying within minutes.

A client presents the same access token on every request of its session, and the signature check
is by far the costliest step (an Ed25519 verification, ~70 µs). So a verifier remembers the tokens
it has fully verified (a bounded LRU keyed by the whole token string, signature included) until
they expire; a hit re-checks only the expiry. A changed key set empties it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx
import jwt
from jwt.algorithms import OKPAlgorithm

from shared.auth.principal import Principal, PrincipalKind, Role

ISSUER = "hosting-accounts/identity"
AUDIENCE = "hosting-accounts"
ALGORITHM = "EdDSA"
LEEWAY_S = 5
# The longest an access token may live (identity issues shorter ones): how long a verifier must
# go on refusing the tokens of a session that ended (`shared.auth.revocations`).
ACCESS_TOKEN_MAX_LIFETIME = timedelta(minutes=15)


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or not meant for us."""


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal: ...

    def cached(self, token: str) -> Principal | None:
        """Without waiting: the principal of a token verified before and unexpired, else None."""


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


class VerifiedTokenCache:
    """Tokens already verified, with their expiry; least recently used ones leave first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def get(self, token: str) -> Principal | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        principal, expires_at = entry
        if time.time() > expires_at + LEEWAY_S:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return principal

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        if self._size <= 0:
            return
        self._entries[token] = (principal, expires_at)
        self._entries.move_to_end(token)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class StaticKeyTokenVerifier:
    """Verifies against a fixed set of public keys (`kid` -> key object)."""

    def __init__(
        self,
        keys: Mapping[str, Any],
        *,
        audience: str = AUDIENCE,
        issuer: str = ISSUER,
        cache_size: int = 10_000,
    ) -> None:
        self._keys = dict(keys)
        self._audience = audience
        self._issuer = issuer
        self._verified = VerifiedTokenCache(cache_size)

    def cached(self, token: str) -> Principal | None:
        """The principal of a token verified before and not expired since, if any."""
        return self._verified.get(token)

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
                leeway=LEEWAY_S,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(type(exc).__name__) from None
        principal = principal_from_claims(claims)
        self._verified.put(token, principal, float(claims["exp"]))
        return principal

    async def verify(self, token: str) -> Principal:
        if (principal := self._verified.get(token)) is not None:
            return principal
        try:
            key = self._key_for(token)
        except KeyError:
            raise InvalidToken("unknown signing key") from None
        return self.decode(token, key)

    def replace_keys(self, keys: Mapping[str, Any]) -> None:
        if dict(keys) != self._keys:
            # A key may have been withdrawn: what it signed must be verified afresh.
            self._verified.clear()
        self._keys = dict(keys)


def keys_from_jwks(jwks: Mapping[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for jwk in jwks.get("keys", ()):
        if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and "kid" in jwk:
            keys[jwk["kid"]] = OKPAlgorithm.from_jwk(jwk)
    return keys


class JwksTokenVerifier:
    def __init__(self, jwks_url: str, *, min_refresh_interval_s: float = 30.0, max_key_age_s: float = 300.0) -> None:
        self._url = jwks_url
        self._static = StaticKeyTokenVerifier({})
        self._min_refresh = min_refresh_interval_s
        self._max_key_age = max_key_age_s
        self._last_fetch = -1e9
        self._last_attempt = -1e9
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with httpx.AsyncClient(timeout=5.0) as client:
            response = await client.get(self._url)
            response.raise_for_status()
            self._static.replace_keys(keys_from_jwks(response.json()))
        self._last_fetch = time.monotonic()

    def cached(self, token: str) -> Principal | None:
        return self._static.cached(token)

    async def _refresh_if_older_than(self, age_s: float) -> None:
        """Refetch unless the keys are younger than `age_s` (another request may just have
        fetched them) or an attempt was made within the minimum interval (identity may be down:
        requests must not each wait for it). Raises httpx.HTTPError when the fetch fails."""
        async with self._lock:
            now = time.monotonic()
            if now - self._last_fetch < age_s or now - self._last_attempt < self._min_refresh:
                return
            self._last_attempt = now
            await self.refresh()

    async def verify(self, token: str) -> Principal:
        if (principal := self._static.cached(token)) is not None:
            return principal
        if time.monotonic() - self._last_fetch >= self._max_key_age and not self._lock.locked():
            # Stale keys are refetched before a signature is trusted; a failure keeps the old ones.
            # (While another request refetches, this one goes on with the keys it has rather than
            # wait for an identity that may be down.)
            with contextlib.suppress(httpx.HTTPError):
                await self._refresh_if_older_than(self._max_key_age)
        try:
            key = self._static._key_for(token)
        except KeyError:
            try:
                await self._refresh_if_older_than(self._min_refresh)
            except httpx.HTTPError:
                raise InvalidToken("signing keys unavailable") from None
            try:
                key = self._static._key_for(token)
            except KeyError:
                raise InvalidToken("unknown signing key") from None
        return self._static.decode(token, key)
