"""Sessions identity has ended, so that their access tokens stop working at every service at once.

Services verify identity's access tokens locally (`shared.auth.verifier`), so a token would stay
good until it expires (at most `ACCESS_TOKEN_MAX_LIFETIME`) after its session ended: after a
logout, a password reset that follows an account takeover, a staff user's deactivation or changed
roles. Identity records every such ending as `SessionRevoked` on identity.events (in the same
transaction as its cause). Each API process follows that topic (without a consumer group: every
process needs every revocation) from `REMEMBER` ago, remembers the revoked sessions no longer than
a token of theirs can live, and its verifier refuses their tokens (`RevocationGuard`).

The follower knows whether it is current: every round it asks the broker for the topic's end and
reads up to it. While it is not (the broker gave no end within `ANSWER_WITHIN_S`, or the reading
took longer than that, or it has not read the topic yet since the start), the guard does not trust
its silence: it asks identity about each session, at most once a second
(`shared.auth.session_confirmation`), and refuses with 503 when identity cannot say. (What the
follower decides itself, not the time since its last round: an event loop that was busy a few
seconds is no outage.)
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from shared import metrics
from shared.auth.principal import Principal
from shared.auth.session_confirmation import Confirmations, SessionConfirmer
from shared.auth.verifier import ACCESS_TOKEN_MAX_LIFETIME, LEEWAY_S, InvalidToken, TokenVerifier
from shared.cloudevents import MalformedCloudEvent, from_kafka
from shared.kafka import partitions_of, topic_for
from shared.kafka_security import client_options
from shared.waiting import cancel_and_wait

log = structlog.get_logger(__name__)

# A token issued before its session ended expires at most this long after the ending (with the
# verifiers' leeway and a minute for clocks that disagree).
REMEMBER = ACCESS_TOKEN_MAX_LIFETIME + timedelta(seconds=LEEWAY_S + 60)
REVOKED_TYPE = b"hosting.accounts.identity.SessionRevoked."  # ce_type, any schema version
# How long the follower waits for the topic's end, and for reading up to it, before it calls
# itself not current. A round takes ~0.5 s (a long poll) while Kafka answers.
ANSWER_WITHIN_S = 3.0

Offsets = dict[TopicPartition, int]


class KafkaUnavailable(RuntimeError):
    """Kafka did not answer in time (a readiness check's failure)."""


def session_key(session_id: str | uuid.UUID) -> str:
    """A session id as access tokens carry it (`sid`: 32 hex digits)."""
    return session_id.hex if isinstance(session_id, uuid.UUID) else uuid.UUID(session_id).hex


class RevokedSessions:
    """Revoked session ids, each kept until no token of its session can be valid any more."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # sid -> epoch seconds after which it may be forgotten (pruned in place: guards hold it)
        self.until: dict[str | None, float] = {}
        self._next_prune = 0.0

    def revoke(self, session_id: str | uuid.UUID, revoked_at: datetime) -> None:
        until = revoked_at.timestamp() + REMEMBER.total_seconds()
        now = self._clock()
        if until > now:
            key = session_key(session_id)
            self.until[key] = max(until, self.until.get(key, 0.0))
        if now >= self._next_prune:  # at most once a minute: revocations are rare, checks are not
            self._next_prune = now + 60
            for gone in [sid for sid, t in self.until.items() if t <= now]:
                del self.until[gone]

    def __contains__(self, session_id: str | None) -> bool:
        return session_id in self.until

    def __len__(self) -> int:
        return len(self.until)


class RevocationGuard:
    """A `TokenVerifier` that refuses the tokens of revoked sessions, around another verifier.

    Without a `confirmer` it trusts what the follower read, current or not: the caller checks
    sessions itself (identity, in its own database)."""

    def __init__(
        self,
        verifier: TokenVerifier,
        revoked: RevokedSessions,
        follower: SessionRevocationFollower | None = None,
        confirmer: SessionConfirmer | None = None,
    ) -> None:
        self.verifier = verifier
        self._revoked_sessions = revoked
        self._revoked = revoked.until  # (the dict itself: `cached` is on contacts' hot path)
        self._follower = follower
        self._confirmations = Confirmations(confirmer) if confirmer is not None else None

    def _to_ask(self, session_id: str | None) -> Confirmations | None:
        """Whom to ask about this session, when the follower's silence cannot be trusted just now."""
        follower, confirmations = self._follower, self._confirmations
        if follower is None or follower.current or confirmations is None or confirmations.recent(session_id):
            return None
        return confirmations

    def cached(self, token: str) -> Principal | None:
        principal = self.verifier.cached(token)
        # (a revoked session's token is declined here, as is one to ask identity about: `verify`
        # then answers it)
        if principal is None or principal.session_id in self._revoked or self._to_ask(principal.session_id):
            return None
        return principal

    async def verify(self, token: str) -> Principal:
        principal = await self.verifier.verify(token)
        if principal.session_id in self._revoked:
            metrics.TOKENS_OF_ENDED_SESSIONS.inc()
            raise InvalidToken("the token's session has ended")
        confirmations = self._to_ask(principal.session_id)
        if confirmations is not None and not await confirmations.live(token, principal):
            if principal.session_id is not None:
                self._revoked_sessions.revoke(principal.session_id, datetime.now(UTC))
            metrics.TOKENS_OF_ENDED_SESSIONS.inc()
            raise InvalidToken("the token's session has ended")
        return principal


def revocations_in(records: Iterable[ConsumerRecord[bytes, bytes]]) -> list[tuple[str, datetime]]:
    """(session id, when) of each `SessionRevoked` among identity's records; others are skipped."""
    found = []
    for record in records:
        headers = record.headers
        if not any(name == "ce_type" and value.startswith(REVOKED_TYPE) for name, value in headers):
            continue
        try:
            event = from_kafka(record.value, headers)
            found.append((session_key(str(event.data["session_id"])), event.occurred_at))
        except (MalformedCloudEvent, KeyError, TypeError, ValueError):
            log.warning("malformed_session_revocation", partition=record.partition, offset=record.offset)
    return found


class SessionRevocationFollower:
    """Follows identity.events into its `RevokedSessions`, in the background of an API process;
    `guard` wraps the process's verifier around them."""

    def __init__(self, bootstrap: str, *, client_id: str, topic: str = topic_for("identity")) -> None:
        self.bootstrap = bootstrap
        self.revoked = RevokedSessions()
        self.topic = topic
        self.client_id = client_id
        self.caught_up = asyncio.Event()  # read what the topic held when following began
        self.current = False  # read up to the end the broker last gave, in time (see the module)
        self._task: asyncio.Task[None] | None = None

    def guard(self, verifier: TokenVerifier, confirmer: SessionConfirmer | None = None) -> RevocationGuard:
        """`confirmer`: whom to ask while this follower is not current; None: the caller checks
        every session itself (identity), so the follower's currency does not matter."""
        return RevocationGuard(verifier, self.revoked, self, confirmer)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="session-revocations")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def ready(self) -> None:
        """For readiness: raises until the revocations recorded before the start have been read."""
        if not self.caught_up.is_set():
            raise RuntimeError("session revocations not read yet")

    async def kafka_answers(self) -> None:
        """For readiness: raises while the broker did not answer this follower's last round."""
        if not self.current:
            raise KafkaUnavailable("Kafka did not answer the session revocations' follower in time")

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A broker that went away or never answered (said once per outage), a topic deleted
                # under us or a bug (with the traceback): start again from REMEMBER ago
                # (revocations read twice are harmless).
                self._not_current(type(exc).__name__)
                if not isinstance(exc, KafkaError):
                    log.exception("session_revocations_failed")
                await asyncio.sleep(5)

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """The topic's partitions, waiting for the topic to exist (before identity first ran)."""
        while True:
            if partitions := await partitions_of(consumer, [self.topic]):
                return partitions
            self.caught_up.set()  # no topic yet: nothing was ever revoked
            self.current = True
            await asyncio.sleep(1)

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id=self.client_id,
            **client_options(),
        )
        try:
            await consumer.start()
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            since_ms = int((time.time() - REMEMBER.total_seconds()) * 1000)
            starts = await consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
            for tp in partitions:
                found = starts.get(tp)
                if found is None:
                    await consumer.seek_to_end(tp)  # nothing recorded since then
                else:
                    consumer.seek(tp, found.offset)
            while True:
                end = await self._end_of(consumer, partitions)
                if end is None:
                    self._not_current("no_end_offsets")
                    await asyncio.sleep(1)
                    continue
                reading_since = time.monotonic()
                while any([await consumer.position(tp) < end[tp] for tp in partitions]):
                    if time.monotonic() - reading_since > ANSWER_WITHIN_S:
                        self._not_current("reading_behind")
                    self._read(await consumer.getmany(timeout_ms=500, max_records=1000))
                if not self.current:
                    self.current = True
                    log.info("session_revocations_current")
                if not self.caught_up.is_set():
                    self.caught_up.set()
                    log.info("session_revocations_read", remembered=len(self.revoked))
                # Waits up to 0.5 s for what comes next (the round's long poll).
                self._read(await consumer.getmany(timeout_ms=500, max_records=1000))
        finally:
            await consumer.stop()

    async def _end_of(self, consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> Offsets | None:
        """The topic's end as the broker gives it, or None when it does not in time."""
        # (`asyncio.timeout`, not `wait_for`: Python 3.11's wait_for can swallow a cancellation that
        # arrives as the answer does, and `stop()` would then wait for a follower that goes on.)
        try:
            async with asyncio.timeout(ANSWER_WITHIN_S):
                end: Offsets = await consumer.end_offsets(partitions)
        except (TimeoutError, KafkaError):
            return None
        return end

    def _not_current(self, why: str) -> None:
        if self.current:  # (said once per outage)
            log.warning("session_revocations_not_current", reason=why)
        self.current = False

    def _read(self, batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> None:
        for records in batches.values():
            for session_id, revoked_at in revocations_in(records):
                self.revoked.revoke(session_id, revoked_at)
        metrics.REVOKED_SESSIONS.set(len(self.revoked))
