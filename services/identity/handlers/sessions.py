"""Refreshing (rotating) and ending sessions."""

from __future__ import annotations

import structlog

from services.identity.adapters import credentials, session_store
from services.identity.domain.events import RefreshTokenReuseDetected, SessionRevoked, session_stream
from services.identity.domain.sessions import ReuseDetected, Rotate, decide_refresh
from services.identity.handlers.common import IDENTITY_ACTOR, IssuedTokens, context_for, issue_tokens, subject_actor
from services.identity.runtime import IdentityRuntime
from shared.envelope import EventContext

log = structlog.get_logger(__name__)


async def refresh(
    rt: IdentityRuntime, refresh_token: str, client_address: str | None, context: EventContext
) -> IssuedTokens | None:
    """The next token pair, or None (unknown, expired, revoked or reused token: all look alike)."""
    now = context.occurred_at
    async with rt.uow() as tx:
        conn = tx.connection
        presented = await session_store.lock_presented(conn, refresh_token)
        if presented is None:
            return None
        session = presented.session
        decision = decide_refresh(session, presented.token, now)
        if isinstance(decision, ReuseDetected):
            if decision.already_revoked:
                return None
            # The session's rows are locked: no other request can rotate or revoke it meanwhile.
            await session_store.revoke(conn, session.session_id, "refresh_token_reuse", now)
            stream = await tx.load(session_stream(session.session_id))
            events = [
                RefreshTokenReuseDetected(session.subject, session.subject_kind, session.session_id, client_address),
                SessionRevoked(session.subject, session.subject_kind, session.session_id, "refresh_token_reuse"),
            ]
            await tx.append(
                stream.stream_id,
                stream.version,
                events,
                context_for(context, session.subject_kind, session.subject, IDENTITY_ACTOR),
            )
            await tx.commit()
            log.warning("refresh_token_reuse_detected", session_id=str(session.session_id), subject=session.subject)
            return None
        if not isinstance(decision, Rotate):
            return None
        credential = await credentials.find(conn, session.subject_kind, session.subject)
        if credential is None:
            return None
        next_token = session_store.new_refresh_token()
        next_expires_at = rt.settings.session_policy.refresh_expiry(now, session.expires_at)
        await session_store.spend(conn, refresh_token, now)
        await session_store.add_refresh_token(conn, session.session_id, next_token, now, next_expires_at)
        await tx.commit()
    return issue_tokens(
        rt,
        kind=session.subject_kind,
        subject=session.subject,
        # Current roles, so that a staff user's changed roles show within one access-token lifetime.
        roles=credential.roles,
        session_id=session.session_id,
        auth_time=session.auth_time,
        now=now,
        refresh_token=next_token,
        refresh_expires_at=next_expires_at,
    )


async def log_out(rt: IdentityRuntime, refresh_token: str, context: EventContext) -> None:
    """Revoke the session of a refresh token; nothing happens (and nothing is said) for an unknown one."""
    now = context.occurred_at
    async with rt.uow() as tx:
        presented = await session_store.lock_presented(tx.connection, refresh_token)
        if presented is None:
            return
        session = presented.session
        if not await session_store.revoke(tx.connection, session.session_id, "logout", now):
            return
        stream = await tx.load(session_stream(session.session_id))
        await tx.append(
            stream.stream_id,
            stream.version,
            [SessionRevoked(session.subject, session.subject_kind, session.session_id, "logout")],
            context_for(
                context, session.subject_kind, session.subject, subject_actor(session.subject_kind, session.subject)
            ),
        )
        await tx.commit()
    log.info("session_revoked", session_id=str(session.session_id), reason="logout")
