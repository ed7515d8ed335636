"""Password reset by one-time password: issuing the code by mail, and confirming it.

`request_password_reset` runs after the 202 has been sent (see the route), so the answer looks
and takes the same whether or not the account exists. The code is stored only as an argon2id
hash and mailed once; if the mail cannot be delivered the customer asks again.

`confirm_password_reset` enforces the code's rules in two short transactions around the hash
check, so no lock is held while hashing: first the try is counted (row locked; at most 5), then,
with the code proven, it is consumed (row locked again; only if it is still the same unused code)
together with the new password hash, the revocation of every session and the events.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, replace
from email.message import EmailMessage

import structlog

from services.identity.adapters import one_time_passwords as codes
from services.identity.adapters.mail_texts import one_time_password_mail, password_changed_mail
from services.identity.domain import one_time_password as otp
from services.identity.domain import passwords
from services.identity.domain.errors import InvalidOneTimePassword
from services.identity.domain.events import PasswordResetRequested, account_stream
from services.identity.handlers.common import account_state, change_password, subject_actor
from services.identity.runtime import IdentityRuntime
from shared.envelope import EventContext
from shared.errors import ConcurrencyConflict

log = structlog.get_logger(__name__)

_APPEND_RETRIES = 3


@dataclass(frozen=True)
class ConfirmPasswordReset:
    customer_number: str
    one_time_password: str
    new_password: str


async def request_password_reset(rt: IdentityRuntime, customer_number: str, context: EventContext) -> None:
    now = context.occurred_at
    policy = rt.settings.otp_policy
    async with rt.uow() as tx:
        account, _ = await account_state(tx, customer_number)
        current = await codes.find(tx.connection, customer_number)
    if not account.opened:
        log.info("password_reset_unknown_account", customer_number=customer_number)
        return
    if not otp.may_issue(current.state if current else None, now, policy):
        log.warning("password_reset_rate_limited", customer_number=customer_number)
        return

    code = otp.new_code(secrets.choice, policy)
    code_hash = await rt.hasher.hash(code)
    expires_at = now + policy.validity
    for attempt in range(1, _APPEND_RETRIES + 1):
        try:
            async with rt.uow() as tx:
                locked = await codes.lock(tx.connection, customer_number)
                state = locked.state if locked else None
                if not otp.may_issue(state, now, policy):
                    log.warning("password_reset_rate_limited", customer_number=customer_number)
                    return
                issued = (*otp.recent_issues(state.issued_at if state else (), now, policy), now)
                await codes.replace(tx.connection, customer_number, uuid.uuid4(), code_hash, expires_at, issued)
                account, version = await account_state(tx, customer_number)
                event = PasswordResetRequested(customer_number, account.reference_email, expires_at)
                await tx.append(account_stream(customer_number), version, [event], context)
                await tx.commit()
            break
        except ConcurrencyConflict:
            # Someone changed the account at the same moment; the code row rolled back with it.
            if attempt == _APPEND_RETRIES:
                raise
    mail = one_time_password_mail(
        sender=rt.settings.mail_from,
        to=account.reference_email,
        name=account.name,
        customer_number=customer_number,
        code=code,
        expires_at=expires_at,
        portal_url=rt.portal_url,
    )
    await rt.mailer.send(mail)
    log.info("one_time_password_sent", customer_number=customer_number)


async def confirm_password_reset(rt: IdentityRuntime, cmd: ConfirmPasswordReset, context: EventContext) -> EmailMessage:
    """Set the new password; returns the notice mail for the caller to send once the answer is out."""
    now = context.occurred_at
    policy = rt.settings.otp_policy
    number = cmd.customer_number
    # Rules that need no account come first, so a typo in the new password costs no try.
    passwords.check_shape(cmd.new_password)

    async with rt.pool.acquire() as pooled, pooled.transaction():
        stored = await codes.lock(pooled, number)
        admitted = stored is not None and otp.may_try(stored.state, now, policy)
        if admitted:
            await codes.count_try(pooled, number)
    # Without a live code the dummy is checked instead: the refusal takes as long as a wrong code.
    proven_hash = stored.code_hash if stored is not None and admitted else rt.hasher.dummy_hash
    matches = await rt.hasher.verify(proven_hash, otp.normalise(cmd.one_time_password))
    if stored is None or not admitted or not matches:
        log.info("one_time_password_refused", customer_number=number)
        raise InvalidOneTimePassword()

    async with rt.uow() as tx:
        account, _ = await account_state(tx, number)
    passwords.check_new_password(cmd.new_password, subject=number, email=account.reference_email)
    new_hash = await rt.hasher.hash(passwords.normalise(cmd.new_password))

    customer = subject_actor("customer", number)
    async with rt.uow() as tx:
        conn = tx.connection
        current = await codes.lock(conn, number)
        if not otp.may_consume(current.state if current else None, stored.state.otp_id, now):
            log.info("one_time_password_refused", customer_number=number)
            raise InvalidOneTimePassword()
        await codes.mark_used(conn, number, now)
        by_customer = replace(context, actor=customer)
        revoked = await change_password(tx, "customer", number, new_hash, "one_time_password", by_customer)
        await tx.commit()
    log.info("password_changed", customer_number=number, sessions_revoked=len(revoked))
    return password_changed_mail(
        sender=rt.settings.mail_from,
        to=account.reference_email,
        name=account.name,
        customer_number=number,
        changed_at=now,
        portal_url=rt.portal_url,
    )
