"""Following identity's session revocations on a real Kafka topic (`shared.auth.revocations`):
what is read back at start, what is skipped, what arrives while following, and a missing topic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shared.auth.revocations import REMEMBER, SessionRevocationFollower
from shared.cloudevents import to_kafka
from shared.envelope import Actor, ActorKind, RecordedEvent
from shared.infra.kafka import TopicSpec, ensure_topics
from shared.kafka import idempotent_producer

pytestmark = pytest.mark.integration


def _identity_event(event_type: str, occurred_at: datetime, **data: str) -> RecordedEvent:
    return RecordedEvent(
        event_id=uuid.uuid4(),
        event_type=event_type,
        schema_version=1,
        stream_id=f"customer-{uuid.uuid4().hex[:6]}",
        stream_version=1,
        customer_number="100001",
        occurred_at=occurred_at,
        actor=Actor(ActorKind.SYSTEM, "identity"),
        correlation_id=uuid.uuid4(),
        causation_id=None,
        data=data,
    )


def _revoked(session: uuid.UUID, at: datetime) -> RecordedEvent:
    return _identity_event(
        "SessionRevoked", at, subject="100001", subject_kind="customer", session_id=str(session), reason="logout"
    )


async def _publish(kafka: str, topic: str, *events: RecordedEvent, malformed: bool = False) -> None:
    producer = idempotent_producer(kafka, "revocation-test")
    await producer.start()
    try:
        for event in events:
            record = to_kafka("identity", event)
            await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)
        if malformed:  # a SessionRevoked without a readable session id
            record = to_kafka("identity", _identity_event("SessionRevoked", datetime.now(UTC), session_id="nonsense"))
            await producer.send_and_wait(topic, record.value, key=record.key, headers=record.headers)
    finally:
        await producer.stop()


async def _until(condition: Callable[[], bool], seconds: float = 15) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 (a set filled by the follower: nothing to wait on)
            await asyncio.sleep(0.05)


async def test_the_follower_reads_back_what_can_still_matter_then_follows(kafka: str) -> None:
    topic = f"identity-revocations-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka, [TopicSpec(topic, partitions=2)])
    now = datetime.now(UTC)
    recent, too_old, logged_in = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await _publish(
        kafka,
        topic,
        _revoked(recent, now - timedelta(minutes=14)),  # a token of it may still be valid
        _revoked(too_old, now - REMEMBER - timedelta(minutes=1)),  # none of its tokens is valid any more
        _identity_event("LoginSucceeded", now, session_id=str(logged_in), subject="100001"),
        malformed=True,
    )
    follower = SessionRevocationFollower(kafka, client_id="revocation-test", topic=topic)
    revoked = follower.revoked
    follower.start()
    try:
        with pytest.raises(RuntimeError):
            await follower.ready()  # (not read yet: the process is not ready)
        await asyncio.wait_for(follower.caught_up.wait(), 15)
        await follower.ready()
        assert recent.hex in revoked
        assert too_old.hex not in revoked
        assert logged_in.hex not in revoked
        assert len(revoked) == 1  # the malformed one skipped, the follower still running

        later = uuid.uuid4()
        await _publish(kafka, topic, _revoked(later, datetime.now(UTC)))
        await _until(lambda: later.hex in revoked)
    finally:
        await follower.stop()


async def test_before_identity_created_its_topic_nothing_is_revoked_and_the_process_is_ready(kafka: str) -> None:
    topic = f"identity-not-yet-{uuid.uuid4().hex[:8]}"
    follower = SessionRevocationFollower(kafka, client_id="revocation-test", topic=topic)
    revoked = follower.revoked
    follower.start()
    try:
        await asyncio.wait_for(follower.caught_up.wait(), 15)
        # The topic appears (identity's first start): its revocations are read from its beginning.
        await ensure_topics(kafka, [TopicSpec(topic, partitions=1)])
        session = uuid.uuid4()
        await _publish(kafka, topic, _revoked(session, datetime.now(UTC)))
        await _until(lambda: session.hex in revoked)
    finally:
        await follower.stop()
