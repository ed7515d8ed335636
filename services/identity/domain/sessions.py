"""Sessions and their tokens: lifetimes, access-token claims, and the refresh decision.

A session starts at a login and is a family of refresh tokens, each used once: refreshing
spends the presented token and hands out the next one. Presenting a spent token again means two
parties hold the family (one of them a thief), so the whole session is revoked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from services.identity.domain.errors import RecentLoginRequired
from shared.auth.verifier import ACCESS_TOKEN_MAX_LIFETIME, AUDIENCE, ISSUER


def require_recent_login(authenticated_at: datetime | None, now: datetime, recent_login: timedelta, what: str) -> None:
    """For actions that could take an account over: a stolen but older token must not suffice."""
    if authenticated_at is None or now - authenticated_at > recent_login:
        raise RecentLoginRequired(
            f"{what} needs a recent login. Log in again and retry.", max_age=int(recent_login.total_seconds())
        )


@dataclass(frozen=True)
class SessionPolicy:
    access_token_ttl: timedelta = timedelta(minutes=10)
    # A refresh token not used within this time expires (the portal was left alone too long).
    refresh_token_ttl: timedelta = timedelta(hours=2)
    # However actively used, a session ends after this time and asks for the password again.
    max_session_age: timedelta = timedelta(hours=12)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.access_token_ttl <= ACCESS_TOKEN_MAX_LIFETIME:
            raise ValueError("access tokens live at most 15 minutes")

    def refresh_expiry(self, now: datetime, session_expires_at: datetime) -> datetime:
        return min(now + self.refresh_token_ttl, session_expires_at)


@dataclass(frozen=True)
class SessionState:
    session_id: uuid.UUID
    subject_kind: Literal["customer", "staff"]
    subject: str
    auth_time: datetime
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class RefreshTokenState:
    session_id: uuid.UUID
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class Rotate:
    """Spend the token, issue the next one and a new access token."""


@dataclass(frozen=True)
class ReuseDetected:
    """A spent token came back: revoke the session (unless it already is) and refuse."""

    already_revoked: bool


@dataclass(frozen=True)
class Refuse:
    reason: Literal["revoked", "expired"]


RefreshDecision = Rotate | ReuseDetected | Refuse


def decide_refresh(session: SessionState, token: RefreshTokenState, now: datetime) -> RefreshDecision:
    if token.used_at is not None:
        return ReuseDetected(already_revoked=session.revoked_at is not None)
    if session.revoked_at is not None:
        return Refuse("revoked")
    if now >= token.expires_at or now >= session.expires_at:
        return Refuse("expired")
    return Rotate()


def access_token_claims(
    *,
    subject: str,
    kind: Literal["customer", "staff"],
    roles: Iterable[str],
    session_id: uuid.UUID,
    auth_time: datetime,
    now: datetime,
    ttl: timedelta,
    token_id: uuid.UUID,
) -> dict[str, Any]:
    """The JWT claims `shared.auth.verifier` expects (iss, aud, sub, kind, roles, sid, auth_time...)."""
    issued = int(now.timestamp())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "kind": kind,
        "roles": sorted(roles),
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(ttl.total_seconds()),
        "auth_time": int(auth_time.timestamp()),
        "sid": session_id.hex,
        "jti": token_id.hex,
    }
