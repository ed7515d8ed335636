"""Opening customer accounts, changing the reference e-mail, creating staff users, reading accounts."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import structlog

from services.identity.adapters import credentials, one_time_passwords
from services.identity.adapters.mail_texts import reference_email_changed_mail
from services.identity.domain import accounts, passwords, staff
from services.identity.domain.errors import UnknownAccount
from services.identity.domain.events import account_stream, staff_stream
from services.identity.handlers.common import account_state, context_for, staff_state
from services.identity.runtime import IdentityRuntime
from shared.auth.principal import Role
from shared.envelope import ActorKind, EventContext

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AccountView:
    account: accounts.CustomerAccount
    password_set: bool


async def open_customer_account(
    rt: IdentityRuntime, cmd: accounts.OpenCustomerAccount, context: EventContext
) -> accounts.CustomerAccount:
    async with rt.uow() as tx:
        state, version = await account_state(tx, cmd.customer_number)
        events = accounts.decide_open(state, cmd)
        # The append comes first: when two admins open the same number at once, the loser gets
        # the store's ConcurrencyConflict (409) before touching the credentials table.
        await tx.append(account_stream(cmd.customer_number), version, events, context)
        await credentials.create(
            tx.connection, "customer", cmd.customer_number, [Role.CUSTOMER.value], None, context.occurred_at
        )
        await tx.commit()
    log.info("customer_account_opened", customer_number=cmd.customer_number)
    return accounts.fold(events)


async def change_reference_email(
    rt: IdentityRuntime, cmd: accounts.ChangeReferenceEmail, context: EventContext
) -> EmailMessage | None:
    """Returns the notice to the previous address (for the caller to send once the answer is out),
    or None when nothing changed."""
    async with rt.uow() as tx:
        state, version = await account_state(tx, cmd.customer_number)
        events = accounts.decide_change_email(state, cmd, context.occurred_at, rt.settings.recent_login)
        await tx.append(account_stream(cmd.customer_number), version, events, context)
        if events:  # a code mailed to the old address must not set the password any more
            await one_time_passwords.mark_used(tx.connection, cmd.customer_number, context.occurred_at)
        await tx.commit()
    if not events:
        return None
    return reference_email_changed_mail(
        sender=rt.settings.mail_from,
        to=state.reference_email,
        name=state.name,
        customer_number=cmd.customer_number,
        new_email=cmd.reference_email,
        changed_at=context.occurred_at,
        by_staff=context.actor.kind is ActorKind.STAFF,
    )


async def view_account(rt: IdentityRuntime, customer_number: str) -> AccountView:
    async with rt.uow() as tx:
        state, _ = await account_state(tx, customer_number)
        credential = await credentials.find(tx.connection, "customer", customer_number)
    if not state.opened:
        raise UnknownAccount("no such customer account")
    return AccountView(state, credential is not None and credential.password_hash is not None)


async def create_staff_user(
    rt: IdentityRuntime,
    cmd: staff.CreateStaffUser,
    initial_password: str,
    context: EventContext,
    act: staff.AdminAct | None,
) -> staff.StaffUser:
    passwords.check_new_password(initial_password, subject=cmd.username, email=None)
    password_hash = await rt.hasher.hash(passwords.normalise(initial_password))
    staff_context = context_for(context, "staff", cmd.username)
    async with rt.uow() as tx:
        state, version = await staff_state(tx, cmd.username)
        events = staff.decide_create(state, cmd, act)
        await tx.append(staff_stream(cmd.username), version, events, staff_context)
        await credentials.create(
            tx.connection, "staff", cmd.username, [r.value for r in cmd.roles], password_hash, context.occurred_at
        )
        await tx.commit()
    log.info("staff_user_created", username=cmd.username, roles=sorted(r.value for r in cmd.roles))
    return staff.fold(events)
