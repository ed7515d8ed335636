"""Revoked sessions remembered as long as a token of theirs can live, and their tokens refused
(`shared.auth.revocations`); the Kafka side is in tests/integration/test_session_revocations.py."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from shared.auth.principal import Principal, PrincipalKind, Role
from shared.auth.revocations import (
    REMEMBER,
    RevocationGuard,
    RevokedSessions,
    SessionRevocationFollower,
    session_key,
)
from shared.auth.session_confirmation import identity_unreachable
from shared.auth.testing import TestTokenIssuer
from shared.auth.verifier import ACCESS_TOKEN_MAX_LIFETIME, InvalidToken
from shared.errors import TemporarilyRefused


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


class Identity:
    """What identity's `/me` would answer per session (the HTTP side: tests/e2e/test_outages.py)."""

    def __init__(self, ended: set[str]) -> None:
        self.ended = ended
        self.asked: list[str | None] = []
        self.away = False

    async def live(self, token: str, principal: Principal) -> bool:
        self.asked.append(principal.session_id)
        await asyncio.sleep(0.01)
        if self.away:
            raise identity_unreachable()
        return principal.session_id not in self.ended

    async def close(self) -> None:
        pass


def _following(
    current: bool, ended: set[str]
) -> tuple[SessionRevocationFollower, Identity, RevocationGuard, TestTokenIssuer]:
    issuer = TestTokenIssuer()
    follower = SessionRevocationFollower("127.0.0.1:1", client_id="test")  # (never started)
    follower.current = current
    identity = Identity(ended)
    return follower, identity, follower.guard(issuer.verifier(), identity), issuer


async def test_while_the_revocations_are_current_identity_is_not_asked() -> None:
    ended = uuid.uuid4().hex
    _, identity, guard, issuer = _following(current=True, ended={ended})
    token = issuer.token("100001", PrincipalKind.CUSTOMER, [Role.CUSTOMER], session_id=ended)
    assert (await guard.verify(token)).session_id == ended  # (the follower has not read of it: trusted)
    assert guard.cached(token) is not None
    assert identity.asked == []


async def test_while_they_are_not_current_each_session_is_confirmed_with_identity_once_a_second() -> None:
    live, ended = uuid.uuid4().hex, uuid.uuid4().hex
    follower, identity, guard, issuer = _following(current=False, ended={ended})
    token = issuer.token("100001", PrincipalKind.CUSTOMER, [Role.CUSTOMER], session_id=live)
    assert guard.cached(token) is None  # the hot path cannot ask: it declines
    answers = await asyncio.gather(*(guard.verify(token) for _ in range(20)))
    assert {a.session_id for a in answers} == {live}
    assert identity.asked == [live]  # one question for the burst
    assert guard.cached(token) is not None  # confirmed: the hot path answers again

    gone = issuer.token("100002", PrincipalKind.CUSTOMER, [Role.CUSTOMER], session_id=ended)
    with pytest.raises(InvalidToken):
        await guard.verify(gone)
    with pytest.raises(InvalidToken):
        await guard.verify(gone)  # remembered as revoked: not asked again
    assert identity.asked == [live, ended]

    follower.current = True  # Kafka back, the follower read up to the end
    assert (await guard.verify(token)).session_id == live
    assert identity.asked == [live, ended]


async def test_when_identity_cannot_say_the_request_is_refused_for_now_not_let_through() -> None:
    _, identity, guard, issuer = _following(current=False, ended=set())
    identity.away = True
    token = issuer.token("100001", PrincipalKind.CUSTOMER, [Role.CUSTOMER], session_id=uuid.uuid4().hex)
    with pytest.raises(TemporarilyRefused) as refused:
        await guard.verify(token)
    assert refused.value.retry_after_s > 0
    identity.away = False
    assert (await guard.verify(token)).subject == "100001"  # a failed question is not remembered


async def test_a_caller_that_checks_sessions_itself_is_never_unsure() -> None:
    follower = SessionRevocationFollower("127.0.0.1:1", client_id="test")  # never current
    issuer = TestTokenIssuer()
    guard = follower.guard(issuer.verifier())  # identity's: no one to ask
    token = issuer.token("100001", PrincipalKind.CUSTOMER, [Role.CUSTOMER], session_id=uuid.uuid4().hex)
    assert (await guard.verify(token)).subject == "100001"
    assert guard.cached(token) is not None


async def test_a_token_without_a_session_is_asked_about_every_time() -> None:
    _, identity, guard, issuer = _following(current=False, ended=set())
    token = issuer.token("100001", PrincipalKind.CUSTOMER, [Role.CUSTOMER], with_session=False)
    assert (await guard.verify(token)).session_id is None
    assert guard.cached(token) is None  # no answer is remembered for "no session"
    await guard.verify(token)
    assert identity.asked == [None, None]


async def test_a_follower_stopped_as_the_broker_answers_stops() -> None:
    """Stopping cancels the follower's rounds; a cancellation that arrives in the same turn as the
    broker's answer must not be lost (with Python 3.11's `wait_for` the round returned the answer
    instead, the follower went on, and `stop()` waited for ever)."""
    answers: list[asyncio.Future[dict[Any, int]]] = []

    class Broker:
        async def end_offsets(self, partitions: list[Any]) -> dict[Any, int]:
            answers.append(asyncio.get_running_loop().create_future())
            return await answers[-1]

    follower = SessionRevocationFollower("127.0.0.1:1", client_id="test")

    async def rounds() -> None:
        while True:
            await follower._end_of(cast(Any, Broker()), [])

    following = asyncio.create_task(rounds())
    await asyncio.sleep(0)  # the first round asks
    answers[0].set_result({})
    await asyncio.sleep(0)  # the answer is in...
    following.cancel()  # ...and the stop comes in the same turn
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(2):  # (a lost cancellation: the next round waits for ever)
            await following
