"""Sessions: the refresh decision and the access-token claims."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.identity.domain.sessions import (
    RefreshTokenState,
    Refuse,
    ReuseDetected,
    Rotate,
    SessionPolicy,
    SessionState,
    access_token_claims,
    decide_refresh,
)
from shared.auth.verifier import AUDIENCE, ISSUER, principal_from_claims

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SID = uuid.uuid4()


def _session(revoked: bool = False) -> SessionState:
    return SessionState(SID, "customer", "100001", NOW, NOW + timedelta(hours=12), NOW if revoked else None)


def _token(used: bool = False, expires_in: timedelta = timedelta(hours=2)) -> RefreshTokenState:
    return RefreshTokenState(SID, NOW + expires_in, NOW if used else None)


def test_a_live_token_rotates() -> None:
    assert decide_refresh(_session(), _token(), NOW) == Rotate()


def test_a_spent_token_is_reuse() -> None:
    assert decide_refresh(_session(), _token(used=True), NOW) == ReuseDetected(already_revoked=False)
    assert decide_refresh(_session(revoked=True), _token(used=True), NOW) == ReuseDetected(already_revoked=True)


def test_revoked_and_expired() -> None:
    assert decide_refresh(_session(revoked=True), _token(), NOW) == Refuse("revoked")
    assert decide_refresh(_session(), _token(expires_in=timedelta(seconds=-1)), NOW) == Refuse("expired")
    assert decide_refresh(_session(), _token(), NOW + timedelta(hours=12)) == Refuse("expired")


def test_refresh_tokens_never_outlive_their_session() -> None:
    policy = SessionPolicy()
    assert policy.refresh_expiry(NOW, NOW + timedelta(minutes=5)) == NOW + timedelta(minutes=5)
    assert policy.refresh_expiry(NOW, NOW + timedelta(hours=5)) == NOW + timedelta(hours=2)


def test_access_tokens_live_at_most_fifteen_minutes() -> None:
    with pytest.raises(ValueError, match="15 minutes"):
        SessionPolicy(access_token_ttl=timedelta(minutes=16))
    assert SessionPolicy().access_token_ttl <= timedelta(minutes=15)


def test_claims_are_what_the_shared_verifier_reads() -> None:
    claims = access_token_claims(
        subject="100001",
        kind="customer",
        roles=["customer"],
        session_id=SID,
        auth_time=NOW - timedelta(minutes=3),
        now=NOW,
        ttl=timedelta(minutes=10),
        token_id=uuid.uuid4(),
    )
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE
    assert claims["exp"] - claims["iat"] == 600
    principal = principal_from_claims(claims)
    assert principal.subject == "100001"
    assert principal.session_id == SID.hex
    assert principal.auth_time == NOW - timedelta(minutes=3)
