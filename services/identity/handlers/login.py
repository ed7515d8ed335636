"""Logging in (customers and staff alike) and recording failed attempts.

Unknown name, account without a password and wrong password take the same path: the attempt is
counted by the throttle first, a hash is verified (against a dummy when there is no real one),
and the caller gets the same refusal. The audit events of a failure are written by
`record_failed_login`, which the route runs after the response has gone out, so that writing
them (only existing accounts have events) cannot show in the response time either.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import structlog

from services.identity.adapters import credentials, session_store, throttle_store
from services.identity.domain import passwords, throttle
from services.identity.domain.events import (
    AccountThrottled,
    LoginFailed,
    LoginFailureReason,
    LoginSucceeded,
    SubjectKind,
    attempt_stream,
    session_stream,
)
from services.identity.handlers.common import IDENTITY_ACTOR, IssuedTokens, context_for, issue_tokens, subject_actor
from services.identity.runtime import IdentityRuntime
from shared import metrics
from shared.envelope import EventContext

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LogIn:
    kind: SubjectKind
    subject: str
    password: str
    client_address: str | None


@dataclass(frozen=True)
class FailedLogin:
    """What the audit of a failed attempt needs (no password, of course)."""

    kind: SubjectKind
    subject: str
    subject_exists: bool
    reason: LoginFailureReason
    client_address: str | None
    account_failures: tuple[datetime, ...]


LoginOutcome = IssuedTokens | FailedLogin | throttle.Throttled


def throttle_keys(
    rt: IdentityRuntime, kind: SubjectKind, subject: str, client_address: str | None
) -> tuple[str, dict[str, throttle.ThrottlePolicy], dict[str, throttle.ThrottlePolicy]]:
    """The account's key (strict) and the client address's (lenient) for an attempt to prove a
    password: a login, or the current password of a change."""
    account = throttle_store.account_key(kind, subject)
    strict = {account: rt.settings.account_throttle}
    lenient = {}
    if client_address:
        lenient[throttle_store.address_key(client_address)] = rt.settings.address_throttle
    return account, strict, lenient


async def log_in(rt: IdentityRuntime, cmd: LogIn, context: EventContext) -> LoginOutcome:
    now = context.occurred_at
    account_key, strict, lenient = throttle_keys(rt, cmd.kind, cmd.subject, cmd.client_address)
    reservation = await throttle_store.reserve(rt.pool, strict, lenient, now)
    if isinstance(reservation, throttle.Throttled):
        log.info("login_throttled", subject_kind=cmd.kind, subject=cmd.subject, until=reservation.until.isoformat())
        metrics.LOGINS_THROTTLED.labels(cmd.kind).inc()
        return reservation

    credential = await credentials.find(rt.pool, cmd.kind, cmd.subject)
    stored_hash = credential.password_hash if credential is not None else None
    password = passwords.normalise(cmd.password)
    matches = await rt.hasher.verify(stored_hash or rt.hasher.dummy_hash, password)
    if credential is None or stored_hash is None or not matches:
        await throttle_store.record_failure(rt.pool, lenient, reservation)
        return FailedLogin(
            kind=cmd.kind,
            subject=cmd.subject,
            subject_exists=credential is not None,
            reason="wrong_password" if stored_hash is not None else "no_password_set",
            client_address=cmd.client_address,
            account_failures=reservation.failures[account_key],
        )

    # Parameters were raised since this hash was made: upgrade it now that we know the password.
    upgraded = await rt.hasher.hash(password) if rt.hasher.needs_rehash(stored_hash) else None
    policy = rt.settings.session_policy
    session_id = uuid.uuid4()
    refresh_token = session_store.new_refresh_token()
    session_expires_at = now + policy.max_session_age
    refresh_expires_at = policy.refresh_expiry(now, session_expires_at)
    async with rt.uow() as tx:
        conn = tx.connection
        await throttle_store.clear(conn, account_key, now)
        if upgraded is not None:
            await credentials.replace_hash_if_unchanged(conn, cmd.kind, cmd.subject, stored_hash, upgraded, now)
        await session_store.create_session(conn, session_id, cmd.kind, cmd.subject, now, session_expires_at)
        await session_store.add_refresh_token(conn, session_id, refresh_token, now, refresh_expires_at)
        event = LoginSucceeded(cmd.subject, cmd.kind, session_id, cmd.client_address)
        await tx.append(
            session_stream(session_id),
            0,
            [event],
            context_for(context, cmd.kind, cmd.subject, subject_actor(cmd.kind, cmd.subject)),
        )
        await tx.commit()
    log.info("login_succeeded", subject_kind=cmd.kind, subject=cmd.subject, session_id=str(session_id))
    if upgraded is not None:
        log.info("password_hash_upgraded", subject_kind=cmd.kind, subject=cmd.subject)
    return issue_tokens(
        rt,
        kind=cmd.kind,
        subject=cmd.subject,
        roles=credential.roles,
        session_id=session_id,
        auth_time=now,
        now=now,
        refresh_token=refresh_token,
        refresh_expires_at=refresh_expires_at,
    )


async def record_failed_login(rt: IdentityRuntime, failed: FailedLogin, context: EventContext) -> None:
    """LoginFailed (and AccountThrottled at a threshold) for an existing account; a log line for any."""
    policy = rt.settings.account_throttle
    failures = len(failed.account_failures)
    reason = failed.reason if failed.subject_exists else "unknown_subject"
    log.info(
        "login_failed",
        subject_kind=failed.kind,
        subject=failed.subject,
        reason=reason,
        failures_in_window=failures,
        client_address=failed.client_address,
    )
    metrics.LOGIN_FAILURES.labels(failed.kind, reason).inc()
    if not failed.subject_exists:
        # Unknown names get no events: no stream should suggest that such a customer exists.
        return
    now = context.occurred_at
    events: list[LoginFailed | AccountThrottled] = [
        LoginFailed(failed.subject, failed.kind, failed.reason, failed.client_address)
    ]
    threshold = throttle.crossed_threshold(failures, policy)
    verdict = throttle.admit(failed.account_failures, now, policy)
    if threshold is not None and isinstance(verdict, throttle.Throttled):
        events.append(AccountThrottled(failed.subject, failed.kind, threshold, failures, verdict.until))
        log.warning("account_throttled", subject_kind=failed.kind, subject=failed.subject, reason=threshold)
        metrics.ACCOUNTS_THROTTLED.labels(failed.kind, threshold).inc()
    async with rt.uow() as tx:
        await tx.append(
            attempt_stream(uuid.uuid4()), 0, events, context_for(context, failed.kind, failed.subject, IDENTITY_ACTOR)
        )
        await tx.commit()
