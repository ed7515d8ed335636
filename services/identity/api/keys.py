"""The public signing keys (JWKS), from which every service verifies access tokens locally."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.identity.domain.signing_keys import JWKS_MAX_AGE
from services.identity.runtime import identity_of


class PublicJwk(BaseModel):
    """One Ed25519 public key (RFC 8037): tokens name it by `kid` in their header."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str = Field(description="The public key, base64url without padding")
    kid: str = Field(description="The key's id, its RFC 7638 thumbprint")
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class JwkSet(BaseModel):
    keys: list[PublicJwk] = Field(description="Every key a live token may be signed with, the next one ahead of use")


class JwkSetResponse(JSONResponse):
    media_type = "application/jwk-set+json"  # RFC 7517, section 8.5; the document names it too


def router() -> APIRouter:
    api = APIRouter(prefix="/api/identity", tags=["keys"])

    @api.get(
        "/.well-known/jwks.json",
        summary="Public keys for verifying access tokens (JWKS, RFC 7517)",
        response_model=JwkSet,
        response_class=JwkSetResponse,
    )
    async def jwks(request: Request) -> JwkSetResponse:
        # Cacheable for a while: verifiers refetch on their own when a token names an unknown key,
        # and a rotated key is published longer than this before it signs.
        return JwkSetResponse(
            identity_of(request).signer.jwks(),
            headers={"Cache-Control": f"public, max-age={int(JWKS_MAX_AGE.total_seconds())}"},
        )

    return api
