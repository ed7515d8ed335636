"""Changing one's own password while logged in (customers and staff), proven with the current one.

Staff users get their first password from an admin, and customers who know their password should
not need a mail round trip to change it. The current password is proven as a login proves it:
the attempt is counted by the login throttle first (a stolen access token must not guess faster
than the login form allows), and a wrong one is refused with one answer. The rules for the new
password come first, so a rejected new password costs no attempt. The new hash replaces the old
one only if that is still the one proven (else 409: a reset happened meanwhile), every other
session of the subject ends, the session that made the change stays.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from email.message import EmailMessage

import structlog

from services.identity.adapters import credentials, throttle_store
from services.identity.adapters.mail_texts import password_changed_mail
from services.identity.domain import passwords
from services.identity.domain.errors import WeakPassword, WrongCurrentPassword
from services.identity.domain.events import SubjectKind
from services.identity.domain.throttle import Throttled
from services.identity.handlers.common import account_state, change_password, subject_actor
from services.identity.handlers.login import throttle_keys
from services.identity.runtime import IdentityRuntime
from shared.envelope import EventContext

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ChangeOwnPassword:
    kind: SubjectKind
    subject: str
    session_id: uuid.UUID  # the session making the change: it stays
    current_password: str
    new_password: str
    client_address: str | None


async def change_own_password(
    rt: IdentityRuntime, cmd: ChangeOwnPassword, context: EventContext
) -> EmailMessage | Throttled | None:
    """Change it; returns the notice mail to send once the answer is out (customers only: staff
    users have no address here), or when to try again if the throttle says wait."""
    now = context.occurred_at
    email = None
    if cmd.kind == "customer":
        async with rt.uow() as tx:
            account, _ = await account_state(tx, cmd.subject)
        email = account.reference_email
    passwords.check_new_password(cmd.new_password, subject=cmd.subject, email=email)

    account_key, strict, lenient = throttle_keys(rt, cmd.kind, cmd.subject, cmd.client_address)
    reservation = await throttle_store.reserve(rt.pool, strict, lenient, now)
    if isinstance(reservation, Throttled):
        log.info("password_change_throttled", subject_kind=cmd.kind, subject=cmd.subject)
        return reservation
    credential = await credentials.find(rt.pool, cmd.kind, cmd.subject)
    proven_hash = credential.password_hash if credential is not None else None
    current = passwords.normalise(cmd.current_password)
    if not await rt.hasher.verify(proven_hash or rt.hasher.dummy_hash, current) or proven_hash is None:
        await throttle_store.record_failure(rt.pool, lenient, reservation)
        log.info("password_change_refused", subject_kind=cmd.kind, subject=cmd.subject, reason="wrong_password")
        raise WrongCurrentPassword()

    new = passwords.normalise(cmd.new_password)
    if new == current:
        async with rt.pool.acquire() as pooled:
            await throttle_store.clear(pooled, account_key, now)  # proven: this attempt was no guess
        raise WeakPassword("The new password is the current one. Choose another one.", rule="unchanged")
    new_hash = await rt.hasher.hash(new)

    async with rt.uow() as tx:
        await throttle_store.clear(tx.connection, account_key, now)
        by_subject = replace(context, actor=subject_actor(cmd.kind, cmd.subject))
        revoked = await change_password(
            tx,
            cmd.kind,
            cmd.subject,
            new_hash,
            "current_password",
            by_subject,
            replacing=proven_hash,
            keep=cmd.session_id,
        )
        await tx.commit()
    log.info("password_changed", subject_kind=cmd.kind, subject=cmd.subject, sessions_revoked=len(revoked))
    if cmd.kind != "customer":
        return None
    return password_changed_mail(
        sender=rt.settings.mail_from,
        to=account.reference_email,
        name=account.name,
        customer_number=cmd.subject,
        changed_at=now,
        portal_url=rt.portal_url,
        this_session_kept=True,
    )
