"""Token signing keys: Ed25519, generated on first start, kept in identity's database.

The private key never leaves the `signing_keys` table (and this process's memory); the public
halves are served as a JWKS, from which every other service verifies tokens locally. The key id
is the key's RFC 7638 thumbprint. Several replicas starting at once generate one key between them
(an advisory lock serialises the check-and-create).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from shared.auth.verifier import ALGORITHM, StaticKeyTokenVerifier
from shared.db import Pool

_KEYGEN_LOCK = 0x1D_0000_0001


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    created_at: datetime

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(self.public_key, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638: SHA-256 over the required members of the JWK, in lexical order, no whitespace."""
    jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = orjson.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, option=orjson.OPT_SORT_KEYS)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


async def ensure_signing_key(pool: Pool, now: datetime) -> None:
    """Create the first signing key unless a usable one exists."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _KEYGEN_LOCK)
        if await conn.fetchval("SELECT 1 FROM signing_keys WHERE retired_at IS NULL LIMIT 1"):
            return
        private_key = Ed25519PrivateKey.generate()
        key = SigningKey(thumbprint(private_key.public_key()), private_key, now)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        await conn.execute(
            "INSERT INTO signing_keys (kid, private_key, public_jwk, created_at) VALUES ($1, $2, $3, $4)",
            key.kid,
            pem,
            key.public_jwk(),
            now,
        )


async def load_signing_keys(pool: Pool) -> list[SigningKey]:
    """The keys not retired, newest first."""
    rows = await pool.fetch(
        "SELECT kid, private_key, created_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid"
    )
    keys = []
    for row in rows:
        private_key = serialization.load_pem_private_key(row["private_key"].encode(), password=None)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError(f"signing key {row['kid']} is not an Ed25519 key")
        keys.append(SigningKey(row["kid"], private_key, row["created_at"]))
    return keys


class TokenSigner:
    """Signs with the newest key; publishes every live key so tokens of the previous one still verify."""

    def __init__(self, keys: Sequence[SigningKey]) -> None:
        if not keys:
            raise ValueError("no signing key")
        self._keys = list(keys)
        self._active = self._keys[0]

    @property
    def kid(self) -> str:
        return self._active.kid

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self._active.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self._keys]}

    def verifier(self) -> StaticKeyTokenVerifier:
        return StaticKeyTokenVerifier({key.kid: key.public_key for key in self._keys})
