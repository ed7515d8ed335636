"""Helpers the handlers share: event contexts per subject, folded state, token issuing."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from services.identity.adapters import credentials, session_store
from services.identity.domain import accounts, staff
from services.identity.domain.errors import PasswordChangedMeanwhile
from services.identity.domain.events import (
    STAFF_CUSTOMER_NUMBER,
    PasswordChanged,
    PasswordChangeMethod,
    RevocationReason,
    SessionRevoked,
    SubjectKind,
    account_stream,
    registry,
    session_stream,
    staff_stream,
)
from services.identity.domain.sessions import access_token_claims
from services.identity.runtime import IdentityRuntime
from shared.envelope import Actor, ActorKind, EventContext
from shared.unit_of_work import UnitOfWork

# The actor of what identity records on its own account (a failed login has no known author).
IDENTITY_ACTOR = Actor(ActorKind.SYSTEM, "identity")


def customer_number_of(kind: SubjectKind, subject: str) -> str:
    return subject if kind == "customer" else STAFF_CUSTOMER_NUMBER


def subject_actor(kind: SubjectKind, subject: str) -> Actor:
    return Actor(ActorKind.CUSTOMER if kind == "customer" else ActorKind.STAFF, subject)


def context_for(context: EventContext, kind: SubjectKind, subject: str, actor: Actor | None = None) -> EventContext:
    """The request's context, filed under the subject's customer number (staff: the reserved one)."""
    return replace(context, customer_number=customer_number_of(kind, subject), actor=actor or context.actor)


def subject_stream(kind: SubjectKind, subject: str) -> str:
    """The stream of the subject's own events: the customer account's, or the staff user's."""
    return account_stream(subject) if kind == "customer" else staff_stream(subject)


async def change_password(
    tx: UnitOfWork,
    kind: SubjectKind,
    subject: str,
    new_hash: str,
    method: PasswordChangeMethod,
    context: EventContext,
    *,
    replacing: str | None = None,
    keep: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Every password change (reset, own change, set by an admin, the seed), in the caller's
    transaction: the new hash (only over `replacing`, if given: else PasswordChangedMeanwhile),
    every session but `keep` ended, `PasswordChanged` and a `SessionRevoked` per ended session.
    Returns the ended sessions."""
    conn, now = tx.connection, context.occurred_at
    if replacing is None:
        await credentials.set_password_hash(conn, kind, subject, new_hash, now)
    elif not await credentials.replace_hash_if_unchanged(conn, kind, subject, replacing, new_hash, now):
        raise PasswordChangedMeanwhile()
    revoked = await session_store.revoke_all(conn, kind, subject, "password_changed", now, keep=keep)
    context = context_for(context, kind, subject)
    stream = await tx.load(subject_stream(kind, subject))
    await tx.append(stream.stream_id, stream.version, [PasswordChanged(subject, kind, method, len(revoked))], context)
    await record_session_revocations(tx, kind, subject, revoked, "password_changed", context)
    return revoked


async def record_session_revocations(
    tx: UnitOfWork,
    kind: SubjectKind,
    subject: str,
    revoked: Sequence[uuid.UUID],
    reason: RevocationReason,
    context: EventContext,
) -> None:
    """`SessionRevoked` on each session ended by one change of the subject's account."""
    context = context_for(context, kind, subject)
    for session_id in revoked:
        session = await tx.load(session_stream(session_id))
        ended = SessionRevoked(subject, kind, session_id, reason)
        await tx.append(session.stream_id, session.version, [ended], context)


async def account_state(tx: UnitOfWork, customer_number: str) -> tuple[accounts.CustomerAccount, int]:
    """The customer account folded from its stream, and the stream's version."""
    stream = await tx.load(account_stream(customer_number))
    return accounts.fold(registry.decode(e) for e in stream.events), stream.version


async def staff_state(tx: UnitOfWork, username: str) -> tuple[staff.StaffUser, int]:
    stream = await tx.load(staff_stream(username))
    return staff.fold(registry.decode(e) for e in stream.events), stream.version


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_at: datetime
    session_id: uuid.UUID


def issue_tokens(
    rt: IdentityRuntime,
    *,
    kind: SubjectKind,
    subject: str,
    roles: Iterable[str],
    session_id: uuid.UUID,
    auth_time: datetime,
    now: datetime,
    refresh_token: str,
    refresh_expires_at: datetime,
) -> IssuedTokens:
    ttl = rt.settings.session_policy.access_token_ttl
    claims = access_token_claims(
        subject=subject,
        kind=kind,
        roles=roles,
        session_id=session_id,
        auth_time=auth_time,
        now=now,
        ttl=ttl,
        token_id=uuid.uuid4(),
    )
    return IssuedTokens(rt.signer.sign(claims), int(ttl.total_seconds()), refresh_token, refresh_expires_at, session_id)
