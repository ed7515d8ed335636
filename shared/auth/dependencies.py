"""FastAPI dependencies: the verified caller, and the checks routes use on it.

Tenant isolation is enforced here once: a customer token only ever reaches its own customer
number; for anything else the answer is 404 (never 403), so a customer learns nothing about
whether another customer exists.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.auth.principal import Principal, Role
from shared.auth.verifier import InvalidToken, TokenVerifier
from shared.errors import Forbidden, NotFound


class Unauthenticated(Exception):
    """No valid bearer token; the HTTP layer answers 401 with a WWW-Authenticate challenge."""


def verifier_of(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.runtime.verifier
    return verifier


async def current_principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("missing bearer token")
    try:
        return await verifier_of(request).verify(token.strip())
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
