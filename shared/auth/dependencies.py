"""FastAPI dependencies: the verified caller, and the checks routes use on it.

Tenant isolation is enforced here once: a customer token only ever reaches its own customer
number; for anything else the answer is 404 (never 403), so a customer learns nothing about
whether another customer exists.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.principal import Principal, Role
from shared.auth.verifier import InvalidToken, TokenVerifier
from shared.errors import Forbidden, NotFound


class Unauthenticated(Exception):
    """No valid bearer token; the HTTP layer answers 401 with a WWW-Authenticate challenge."""


def verifier_of(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.runtime.verifier
    return verifier


# Declared through FastAPI's HTTPBearer so that OpenAPI documents the scheme on every route that
# depends on it; auto_error=False because the 401 (problem+json, with a challenge) is ours.
bearer_scheme = HTTPBearer(
    scheme_name="bearerAuth",
    bearerFormat="JWT",
    description="Access token issued by identity (EdDSA-signed JWT): `Authorization: Bearer <token>`.",
    auto_error=False,
)


async def current_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
) -> Principal:
    if credentials is None:
        raise Unauthenticated("missing bearer token")
    try:
        return await verifier_of(request).verify(credentials.credentials.strip())
    except InvalidToken:
        raise Unauthenticated("invalid token") from None


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def ensure_customer_access(principal: Principal, customer_number: str, *staff_roles: Role) -> None:
    """The customer itself, or staff holding one of `staff_roles` (default: support, admin)."""
    if principal.is_customer(customer_number):
        return
    allowed = staff_roles or (Role.SUPPORT, Role.ADMIN)
    if principal.kind.value == "staff" and principal.has_role(*allowed):
        return
    if principal.kind.value == "customer":
        raise NotFound("no such customer")
    raise Forbidden("your role does not allow this")


def ensure_role(principal: Principal, *roles: Role) -> None:
    if not principal.has_role(*roles):
        raise Forbidden("your role does not allow this")
