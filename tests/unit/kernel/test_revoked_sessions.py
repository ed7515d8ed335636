"""Revoked sessions remembered as long as a token of theirs can live, and their tokens refused
(`shared.auth.revocations`); the Kafka side is in tests/integration/test_session_revocations.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.auth.principal import PrincipalKind, Role
from shared.auth.revocations import REMEMBER, RevocationGuard, RevokedSessions, session_key
from shared.auth.testing import TestTokenIssuer
from shared.auth.verifier import ACCESS_TOKEN_MAX_LIFETIME, InvalidToken


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now.timestamp()


START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_a_session_is_remembered_while_a_token_of_it_can_still_be_valid() -> None:
    assert REMEMBER > ACCESS_TOKEN_MAX_LIFETIME
    clock = Clock(START)
    revoked = RevokedSessions(clock)
    session = uuid.uuid4()
    revoked.revoke(str(session), START)  # as the event writes it: with hyphens
    assert session.hex in revoked  # as the token's `sid` carries it
    clock.now = START + ACCESS_TOKEN_MAX_LIFETIME
    revoked.revoke(uuid.uuid4(), clock.now)  # (a later revocation prunes, at most once a minute)
    assert session.hex in revoked
    clock.now = START + REMEMBER + timedelta(minutes=2)
    revoked.revoke(uuid.uuid4(), clock.now)
    assert session.hex not in revoked
    assert len(revoked) == 2  # the two later ones


def test_a_revocation_older_than_any_token_is_not_kept() -> None:
    revoked = RevokedSessions(Clock(START))
    old = uuid.uuid4()
    revoked.revoke(old, START - REMEMBER - timedelta(seconds=1))
    assert old.hex not in revoked
    assert len(revoked) == 0
    assert None not in revoked  # a token without a session is not "revoked"


def test_session_ids_are_compared_as_tokens_carry_them() -> None:
    session = uuid.uuid4()
    assert session_key(session) == session_key(str(session)) == session_key(session.hex) == session.hex
    with pytest.raises(ValueError, match="hexadecimal UUID"):
        session_key("not-a-session")


async def test_the_guard_refuses_the_tokens_of_revoked_sessions_and_only_those() -> None:
    issuer = TestTokenIssuer()
    revoked = RevokedSessions(Clock(datetime.now(UTC)))
    guard = RevocationGuard(issuer.verifier(), revoked)
    ended, other = uuid.uuid4().hex, uuid.uuid4().hex
    token = issuer.token("100001", PrincipalKind.CUSTOMER, [Role.CUSTOMER], session_id=ended)
    still = issuer.token("100001", PrincipalKind.CUSTOMER, [Role.CUSTOMER], session_id=other)
    assert (await guard.verify(token)).session_id == ended
    assert guard.cached(token) is not None  # verified before: the hot path's answer

    revoked.revoke(ended, datetime.now(UTC))
    assert guard.cached(token) is None  # the hot path declines it...
    with pytest.raises(InvalidToken):
        await guard.verify(token)  # ...and the route refuses it, although signature and expiry are fine
    assert (await guard.verify(still)).session_id == other
    assert guard.cached(still) is not None
