"""Signing test tokens with a throwaway key, for services' tests (never used in production)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from shared.auth.principal import PrincipalKind, Role
from shared.auth.verifier import ALGORITHM, AUDIENCE, ISSUER, StaticKeyTokenVerifier


class TestTokenIssuer:
    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        self.kid = f"test-{uuid.uuid4().hex[:8]}"

    def verifier(self) -> StaticKeyTokenVerifier:
        return StaticKeyTokenVerifier({self.kid: self._key.public_key()})

    def jwks(self) -> dict[str, Any]:
        """The public key as identity publishes its keys, for processes that fetch a JWKS."""
        jwk = json.loads(OKPAlgorithm.to_jwk(self._key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": ALGORITHM}]}

    def token(
        self,
        subject: str,
        kind: PrincipalKind,
        roles: Iterable[Role],
        *,
        ttl_s: int = 300,
        audience: str = AUDIENCE,
        session_id: str | None = None,
        with_session: bool = True,
    ) -> str:
        """`with_session` False: a token without `sid` (identity issues none such)."""
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": audience,
            "sub": subject,
            "kind": kind.value,
            "roles": [r.value for r in roles],
            "iat": now,
            "auth_time": now,
            "exp": now + ttl_s,
            "sid": session_id or uuid.uuid4().hex,
        }
        if not with_session:
            del claims["sid"]
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def customer(self, customer_number: str, *, ttl_s: int = 300) -> dict[str, str]:
        token = self.token(customer_number, PrincipalKind.CUSTOMER, [Role.CUSTOMER], ttl_s=ttl_s)
        return {"Authorization": f"Bearer {token}"}

    def staff(self, name: str, *roles: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(name, PrincipalKind.STAFF, roles)}"}
