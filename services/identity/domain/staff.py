"""Staff users: support agents, compliance auditors and administrators with their own logins."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.identity.domain.errors import StaffUserExists
from services.identity.domain.events import StaffUserCreated
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


@dataclass(frozen=True)
class CreateStaffUser:
    username: str
    display_name: str
    roles: frozenset[Role]


def evolve(state: StaffUser, event: DomainEvent) -> StaffUser:
    if isinstance(event, StaffUserCreated):
        return StaffUser(event.username, event.display_name, frozenset(Role(r) for r in event.roles), exists=True)
    return state


def fold(events: Iterable[DomainEvent]) -> StaffUser:
    state = StaffUser()
    for event in events:
        state = evolve(state, event)
    return state


def decide_create(state: StaffUser, cmd: CreateStaffUser) -> list[DomainEvent]:
    if state.exists:
        raise StaffUserExists(f"staff user {cmd.username} already exists")
    if not cmd.roles or not cmd.roles <= STAFF_ROLES:
        # The API validates this already; the domain refuses a customer role on staff regardless.
        raise ValueError("staff users need one or more staff roles")
    return [
        StaffUserCreated(
            username=cmd.username,
            display_name=cmd.display_name.strip(),
            roles=tuple(sorted(r.value for r in cmd.roles)),
        )
    ]
