"""Token signing keys: Ed25519, generated on first start, rotated by command, kept in identity's database.

The private key never leaves the `signing_keys` table (and this process's memory); the public
halves are served as a JWKS, from which every other service verifies tokens locally. The key id
is the key's RFC 7638 thumbprint. Several replicas starting at once generate one key between them
(an advisory lock serialises the check-and-create, and rotations and retirements too).

`rotate` adds a key that signs only after `PUBLISH_AHEAD`, `retire` withdraws keys superseded
long enough ago and erases their private halves (the public ones stay, for audits);
`domain/signing_keys.py` has the rules. Each API process reloads the key set
every `IDENTITY_SIGNING_KEYS_RELOAD_S` (`follow_signing_keys`), so neither needs a restart.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import jwt
import orjson
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

from services.identity.domain.signing_keys import PUBLISH_AHEAD, RETIRE_AFTER, pending, retirable, signing_at
from shared.auth.verifier import ALGORITHM, StaticKeyTokenVerifier
from shared.clock import Clock
from shared.db import Connection, Pool

log = structlog.get_logger(__name__)

_KEYGEN_LOCK = 0x1D_0000_0001


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    created_at: datetime
    signs_from: datetime

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


async def _insert_new_key(conn: Connection, now: datetime, signs_from: datetime) -> SigningKey:
    private_key = Ed25519PrivateKey.generate()
    key = SigningKey(thumbprint(private_key.public_key()), private_key, now, signs_from)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    await conn.execute(
        "INSERT INTO signing_keys (kid, private_key, public_jwk, created_at, signs_from) VALUES ($1, $2, $3, $4, $5)",
        key.kid,
        pem,
        key.public_jwk(),
        now,
        signs_from,
    )
    return key


async def ensure_signing_key(pool: Pool, now: datetime) -> None:
    """Create the first signing key (signing at once) unless a usable one exists."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _KEYGEN_LOCK)
        if await conn.fetchval("SELECT 1 FROM signing_keys WHERE retired_at IS NULL LIMIT 1"):
            return
        await _insert_new_key(conn, now, now)


async def load_signing_keys(db: Pool | Connection) -> list[SigningKey]:
    """The keys not retired, the latest to sign first."""
    rows = await db.fetch(
        "SELECT kid, private_key, created_at, signs_from FROM signing_keys WHERE retired_at IS NULL"
        " ORDER BY signs_from DESC, kid"
    )
    keys = []
    for row in rows:
        private_key = serialization.load_pem_private_key(row["private_key"].encode(), password=None)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError(f"signing key {row['kid']} is not an Ed25519 key")
        keys.append(SigningKey(row["kid"], private_key, row["created_at"], row["signs_from"]))
    return keys


class RotationRefused(Exception):
    """A rotation was asked for while a rotated key still waits to sign."""


async def rotate(pool: Pool, now: datetime, publish_ahead: timedelta = PUBLISH_AHEAD) -> SigningKey:
    """Add a key that is published now and signs from `now + publish_ahead`."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _KEYGEN_LOCK)
        waiting = pending(await load_signing_keys(conn), now)
        if waiting:
            # Two waiting keys would only make the second rotation take effect later than asked.
            raise RotationRefused(
                f"key {waiting[0].kid} already waits to sign from {waiting[0].signs_from.isoformat()}"
            )
        key = await _insert_new_key(conn, now, now + publish_ahead)
    log.info("signing_key_rotated", kid=key.kid, signs_from=key.signs_from.isoformat())
    return key


async def retire(pool: Pool, now: datetime, after: timedelta = RETIRE_AFTER) -> list[SigningKey]:
    """Withdraw the keys superseded at least `after` ago, their private halves erased; the ones withdrawn."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _KEYGEN_LOCK)
        done = retirable(await load_signing_keys(conn), now, after)
        await conn.execute(
            "UPDATE signing_keys SET retired_at = $2, private_key = NULL WHERE kid = ANY($1::text[])",
            [k.kid for k in done],
            now,
        )
    for key in done:
        log.info("signing_key_retired", kid=key.kid)
    return done


class TokenSigner:
    """Signs with the key whose time has come (`signing_at`); publishes every live key, including
    one waiting to sign and the previous one, whose tokens still have to verify."""

    def __init__(self, keys: Sequence[SigningKey], clock: Clock) -> None:
        if not keys:
            raise ValueError("no signing key")
        self._keys = list(keys)
        self._clock = clock
        self._verifier = StaticKeyTokenVerifier(self._public_keys())

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(k.kid for k in self._keys)

    def replace_keys(self, keys: Sequence[SigningKey]) -> None:
        if not keys:
            raise ValueError("no signing key")
        self._keys = list(keys)
        self._verifier.replace_keys(self._public_keys())

    def sign(self, claims: Mapping[str, Any]) -> str:
        key = signing_at(self._keys, self._clock.now())
        return jwt.encode(dict(claims), key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self._keys]}

    def verifier(self) -> StaticKeyTokenVerifier:
        """A verifier of exactly the keys this signer publishes, kept current by `replace_keys`."""
        return self._verifier

    def _public_keys(self) -> dict[str, Ed25519PublicKey]:
        return {key.kid: key.public_key for key in self._keys}


async def reload_signing_keys(pool: Pool, signer: TokenSigner) -> bool:
    """Take up a rotation or retirement made meanwhile; whether the key set changed. A failed
    read keeps the keys the process has (it still signs and verifies) and is logged."""
    try:
        keys = await load_signing_keys(pool)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("signing_keys_reload_failed", error=type(exc).__name__)
        return False
    if not keys:
        # Someone retired every key by hand: signing on with the old ones beats refusing every login.
        log.error("signing_keys_none_live", kept=sorted(signer.kids))
        return False
    if frozenset(k.kid for k in keys) == signer.kids:
        return False
    signer.replace_keys(keys)
    log.info("signing_keys_reloaded", kids=sorted(k.kid for k in keys))
    return True


async def follow_signing_keys(pool: Pool, signer: TokenSigner, every_s: float) -> None:
    """Reload the keys every `every_s` seconds until the pool closes (hooks have no stop signal)."""
    while not pool.is_closing():
        await asyncio.sleep(every_s)
        if pool.is_closing():
            return
        try:
            await reload_signing_keys(pool, signer)
        except Exception as exc:  # e.g. a row that is no Ed25519 key: this round fails, not the loop
            log.error("signing_keys_reload_failed", error=type(exc).__name__)
