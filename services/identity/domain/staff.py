"""Staff users: support agents, compliance auditors and administrators with their own logins.

Admins create them, change their roles, set a new password for one who forgot it, and
deactivate one who left (for good: the name stays taken and the history stays). An admin may not
do to themselves what could leave nobody able to administer: drop their own admin role or
deactivate themselves. Changing roles or setting a password could take an account over, so they
need a recent login of the admin; deactivating is protective and does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.identity.domain.errors import (
    NotOnOneself,
    StaffUserExists,
    StaffUserInactive,
    UnknownStaffUser,
)
from services.identity.domain.events import StaffRolesChanged, StaffUserCreated, StaffUserDeactivated
from services.identity.domain.sessions import require_recent_login
from shared.auth.principal import Role
from shared.envelope import DomainEvent

STAFF_ROLES = frozenset({Role.SUPPORT, Role.COMPLIANCE, Role.ADMIN})
USERNAME_PATTERN = r"^[a-z][a-z0-9._-]{1,63}$"


@dataclass(frozen=True)
class StaffUser:
    username: str = ""
    display_name: str = ""
    roles: frozenset[Role] = frozenset()
    exists: bool = False
    active: bool = False  # exists and not deactivated


@dataclass(frozen=True)
class CreateStaffUser:
    username: str
    display_name: str
    roles: frozenset[Role]


@dataclass(frozen=True)
class AdminAct:
    """Who acts on a staff user (an admin), and when that admin logged in."""

    admin: str
    authenticated_at: datetime | None
    now: datetime
    recent_login: timedelta


@dataclass(frozen=True)
class ChangeStaffRoles:
    username: str
    roles: frozenset[Role]


@dataclass(frozen=True)
class DeactivateStaffUser:
    username: str
    reason: str


def evolve(state: StaffUser, event: DomainEvent) -> StaffUser:
    if isinstance(event, StaffUserCreated):
        roles = frozenset(Role(r) for r in event.roles)
        return StaffUser(event.username, event.display_name, roles, exists=True, active=True)
    if isinstance(event, StaffRolesChanged):
        return replace(state, roles=frozenset(Role(r) for r in event.roles))
    if isinstance(event, StaffUserDeactivated):
        return replace(state, active=False)
    return state


def fold(events: Iterable[DomainEvent], onto: StaffUser | None = None) -> StaffUser:
    """The state after `events`, from nothing or from `onto`."""
    state = onto or StaffUser()
    for event in events:
        state = evolve(state, event)
    return state


def decide_create(state: StaffUser, cmd: CreateStaffUser, act: AdminAct | None) -> list[DomainEvent]:
    """`act`: the admin creating the user; None for the development seed (the system itself)."""
    if state.exists:
        raise StaffUserExists(f"staff user {cmd.username} already exists")
    _check_roles(cmd.roles)
    if act is not None:
        # A new user with roles and a password the admin chose hands those roles to whoever knows
        # it: as much as changing a user's roles or password, so the same recent login.
        require_recent_login(act.authenticated_at, act.now, act.recent_login, "Creating a staff user")
    return [
        StaffUserCreated(
            username=cmd.username,
            display_name=cmd.display_name.strip(),
            roles=tuple(sorted(r.value for r in cmd.roles)),
        )
    ]


def _check_roles(roles: frozenset[Role]) -> None:
    if not roles or not roles <= STAFF_ROLES:
        # The API validates this already; the domain refuses a customer role on staff regardless.
        raise ValueError("staff users need one or more staff roles")


def _active(state: StaffUser, username: str) -> None:
    if not state.exists:
        raise UnknownStaffUser(f"no staff user {username}")
    if not state.active:
        raise StaffUserInactive(f"staff user {username} was deactivated")


def decide_change_roles(state: StaffUser, cmd: ChangeStaffRoles, act: AdminAct) -> list[DomainEvent]:
    _active(state, cmd.username)
    _check_roles(cmd.roles)
    if cmd.username == act.admin and Role.ADMIN not in cmd.roles:
        raise NotOnOneself("You cannot remove your own admin role; another admin can.")
    require_recent_login(act.authenticated_at, act.now, act.recent_login, "Changing a staff user's roles")
    if cmd.roles == state.roles:
        return []
    return [
        StaffRolesChanged(
            username=cmd.username,
            roles=tuple(sorted(r.value for r in cmd.roles)),
            previous_roles=tuple(sorted(r.value for r in state.roles)),
        )
    ]


def decide_deactivate(state: StaffUser, cmd: DeactivateStaffUser, act: AdminAct) -> list[DomainEvent]:
    if not state.exists:
        raise UnknownStaffUser(f"no staff user {cmd.username}")
    if cmd.username == act.admin:
        raise NotOnOneself("You cannot deactivate yourself; another admin can.")
    if not state.active:
        return []  # deactivated already: asking again changes nothing
    return [StaffUserDeactivated(username=cmd.username, reason=cmd.reason.strip())]


def check_password_set_by_admin(state: StaffUser, username: str, act: AdminAct) -> None:
    """An admin may set a new password for an active staff user (one who forgot theirs); the
    admin's own goes through the change with the current password."""
    _active(state, username)
    if username == act.admin:
        raise NotOnOneself("Change your own password with your current one (PUT /api/identity/v1/me/password).")
    require_recent_login(act.authenticated_at, act.now, act.recent_login, "Setting a staff user's password")
