"""An admin managing staff users: their roles, a new password, deactivation, and reading one.

Each change ends every session of the staff user, in the transaction that records it: the next
token carries the new roles, and a deactivated or re-passworded user has to log in again. The
other services refuse the access tokens already handed out once they read the `SessionRevoked`
events (`shared.auth.revocations`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import structlog

from services.identity.adapters import credentials, session_store
from services.identity.domain import passwords, staff
from services.identity.domain.errors import UnknownStaffUser
from services.identity.domain.events import RevocationReason, staff_stream
from services.identity.handlers.common import (
    change_password,
    context_for,
    record_session_revocations,
    staff_state,
)
from services.identity.runtime import IdentityRuntime
from shared.db import Connection
from shared.envelope import DomainEvent, EventContext
from shared.unit_of_work import UnitOfWork

log = structlog.get_logger(__name__)


async def view_staff_user(rt: IdentityRuntime, username: str) -> staff.StaffUser:
    async with rt.uow() as tx:
        state, _ = await staff_state(tx, username)
    if not state.exists:
        raise UnknownStaffUser(f"no staff user {username}")
    return state


async def list_staff_users(
    rt: IdentityRuntime, *, after: str | None, limit: int
) -> tuple[list[staff.StaffUser], str | None]:
    """A page of staff users in name order, and the cursor of the next page (None: the last)."""
    names = await credentials.staff_usernames(rt.pool, after=after, limit=limit + 1)
    async with rt.uow() as tx:
        users = [(await staff_state(tx, name))[0] for name in names[:limit]]
    return users, names[limit - 1] if len(names) > limit else None


async def _locked_state(tx: UnitOfWork, username: str) -> tuple[staff.StaffUser, int]:
    # Locked first, so no other change of this user commits between reading its state and writing.
    await credentials.lock(tx.connection, "staff", username)
    return await staff_state(tx, username)


async def _change(
    rt: IdentityRuntime,
    username: str,
    decide: Callable[[staff.StaffUser], list[DomainEvent]],
    write: Callable[[Connection], Awaitable[None]],
    reason: RevocationReason,
    context: EventContext,
) -> tuple[staff.StaffUser, int | None]:
    """Decide on the locked user; if anything changes: `write` the credentials, append the
    events, end every session of the user. The state after, and how many sessions ended (None:
    nothing changed)."""
    async with rt.uow() as tx:
        state, version = await _locked_state(tx, username)
        events = decide(state)
        if not events:
            return state, None
        await write(tx.connection)
        await tx.append(staff_stream(username), version, events, context_for(context, "staff", username))
        revoked = await session_store.revoke_all(tx.connection, "staff", username, reason, context.occurred_at)
        await record_session_revocations(tx, "staff", username, revoked, reason, context)
        await tx.commit()
    return staff.fold(events, onto=state), len(revoked)


async def change_roles(
    rt: IdentityRuntime, cmd: staff.ChangeStaffRoles, act: staff.AdminAct, context: EventContext
) -> staff.StaffUser:
    roles = sorted(r.value for r in cmd.roles)

    async def write(conn: Connection) -> None:
        await credentials.set_roles(conn, "staff", cmd.username, roles, act.now)

    decide = partial(staff.decide_change_roles, cmd=cmd, act=act)
    after, ended = await _change(rt, cmd.username, decide, write, "roles_changed", context)
    if ended is not None:
        log.info("staff_roles_changed", username=cmd.username, roles=roles, sessions_revoked=ended)
    return after


async def deactivate(
    rt: IdentityRuntime, cmd: staff.DeactivateStaffUser, act: staff.AdminAct, context: EventContext
) -> staff.StaffUser:
    async def write(conn: Connection) -> None:
        await credentials.disable(conn, "staff", cmd.username, act.now)

    decide = partial(staff.decide_deactivate, cmd=cmd, act=act)
    after, ended = await _change(rt, cmd.username, decide, write, "deactivated", context)
    if ended is not None:
        log.info("staff_user_deactivated", username=cmd.username, sessions_revoked=ended)
    return after


async def set_password(
    rt: IdentityRuntime, username: str, new_password: str, act: staff.AdminAct, context: EventContext
) -> None:
    """A new password for a staff user who forgot theirs (to be handed over in person)."""
    async with rt.uow() as tx:
        state, _ = await staff_state(tx, username)
    staff.check_password_set_by_admin(state, username, act)
    passwords.check_new_password(new_password, subject=username, email=None)
    new_hash = await rt.hasher.hash(passwords.normalise(new_password))
    async with rt.uow() as tx:
        state, _ = await _locked_state(tx, username)  # again, now that nothing else can change it
        staff.check_password_set_by_admin(state, username, act)
        revoked = await change_password(tx, "staff", username, new_hash, "set_by_admin", context)
        await tx.commit()
    log.info("staff_password_set", username=username, by=act.admin, sessions_revoked=len(revoked))
