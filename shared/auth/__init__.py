"""Authentication shared by every service: who is calling, verified locally from a token.

identity signs short-lived access tokens (JWT, EdDSA) and publishes its public keys as a JWKS;
every other service verifies tokens itself with `TokenVerifier` (signature, expiry, audience,
roles), never by calling identity on a request.
"""

from shared.auth.principal import Principal, PrincipalKind, Role
from shared.auth.verifier import InvalidToken, JwksTokenVerifier, StaticKeyTokenVerifier, TokenVerifier

__all__ = [
    "InvalidToken",
    "JwksTokenVerifier",
    "Principal",
    "PrincipalKind",
    "Role",
    "StaticKeyTokenVerifier",
    "TokenVerifier",
]
