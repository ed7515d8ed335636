"""Staff users after creation: roles, deactivation, a password set by an admin (pure decisions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.identity.domain import staff
from services.identity.domain.errors import NotOnOneself, RecentLoginRequired, StaffUserInactive, UnknownStaffUser
from services.identity.domain.events import StaffRolesChanged, StaffUserCreated, StaffUserDeactivated
from shared.auth.principal import Role

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
RECENT = timedelta(minutes=10)
AGENT = staff.fold([StaffUserCreated("agent", "A. Gent", ("support",))])


def _act(admin: str = "boss", logged_in_ago: timedelta = timedelta(minutes=1)) -> staff.AdminAct:
    return staff.AdminAct(admin, NOW - logged_in_ago, NOW, RECENT)


def test_changing_roles_records_old_and_new_and_folds() -> None:
    events = staff.decide_change_roles(AGENT, staff.ChangeStaffRoles("agent", frozenset({Role.COMPLIANCE})), _act())
    assert events == [StaffRolesChanged("agent", ("compliance",), ("support",))]
    assert staff.fold(events, onto=AGENT).roles == frozenset({Role.COMPLIANCE})
    assert staff.decide_change_roles(AGENT, staff.ChangeStaffRoles("agent", frozenset({Role.SUPPORT})), _act()) == []


def test_changing_roles_needs_a_recent_login_and_staff_roles() -> None:
    cmd = staff.ChangeStaffRoles("agent", frozenset({Role.ADMIN}))
    with pytest.raises(RecentLoginRequired):
        staff.decide_change_roles(AGENT, cmd, _act(logged_in_ago=timedelta(minutes=11)))
    with pytest.raises(RecentLoginRequired):
        staff.decide_change_roles(AGENT, cmd, staff.AdminAct("boss", None, NOW, RECENT))
    with pytest.raises(ValueError, match="staff roles"):
        staff.decide_change_roles(AGENT, staff.ChangeStaffRoles("agent", frozenset({Role.CUSTOMER})), _act())
    with pytest.raises(ValueError, match="staff roles"):
        staff.decide_change_roles(AGENT, staff.ChangeStaffRoles("agent", frozenset()), _act())


def test_an_admin_keeps_their_own_admin_role() -> None:
    boss = staff.fold([StaffUserCreated("boss", "B. Oss", ("admin",))])
    with pytest.raises(NotOnOneself):
        staff.decide_change_roles(boss, staff.ChangeStaffRoles("boss", frozenset({Role.SUPPORT})), _act())
    more = staff.decide_change_roles(
        boss, staff.ChangeStaffRoles("boss", frozenset({Role.ADMIN, Role.SUPPORT})), _act()
    )
    assert more == [StaffRolesChanged("boss", ("admin", "support"), ("admin",))]


def test_deactivation_is_final_and_idempotent() -> None:
    events = staff.decide_deactivate(AGENT, staff.DeactivateStaffUser("agent", "  left the company "), _act())
    assert events == [StaffUserDeactivated("agent", "left the company")]
    gone = staff.fold(events, onto=AGENT)
    assert gone.exists
    assert not gone.active
    assert staff.decide_deactivate(gone, staff.DeactivateStaffUser("agent", "again"), _act()) == []
    with pytest.raises(StaffUserInactive):
        staff.decide_change_roles(gone, staff.ChangeStaffRoles("agent", frozenset({Role.SUPPORT})), _act())
    with pytest.raises(StaffUserInactive):
        staff.check_password_set_by_admin(gone, "agent", _act())


def test_deactivation_needs_no_recent_login_but_not_oneself() -> None:
    old_login = _act(logged_in_ago=timedelta(hours=3))
    assert staff.decide_deactivate(AGENT, staff.DeactivateStaffUser("agent", "left"), old_login)
    with pytest.raises(NotOnOneself):
        staff.decide_deactivate(AGENT, staff.DeactivateStaffUser("agent", "left"), _act(admin="agent"))


def test_a_password_set_by_an_admin() -> None:
    staff.check_password_set_by_admin(AGENT, "agent", _act())
    with pytest.raises(RecentLoginRequired):
        staff.check_password_set_by_admin(AGENT, "agent", _act(logged_in_ago=timedelta(minutes=30)))
    with pytest.raises(NotOnOneself):
        staff.check_password_set_by_admin(AGENT, "agent", _act(admin="agent"))


def test_unknown_staff_users() -> None:
    nobody = staff.StaffUser()
    with pytest.raises(UnknownStaffUser):
        staff.decide_change_roles(nobody, staff.ChangeStaffRoles("x", frozenset({Role.SUPPORT})), _act())
    with pytest.raises(UnknownStaffUser):
        staff.decide_deactivate(nobody, staff.DeactivateStaffUser("x", "left"), _act())
    with pytest.raises(UnknownStaffUser):
        staff.check_password_set_by_admin(nobody, "x", _act())


def test_creating_a_staff_user_needs_a_recent_login() -> None:
    # An older session (kept alive by refreshing) must not mint an admin with a password it chose.
    cmd = staff.CreateStaffUser("newadmin", "New Admin", frozenset({Role.ADMIN}))
    with pytest.raises(RecentLoginRequired):
        staff.decide_create(staff.StaffUser(), cmd, _act(logged_in_ago=timedelta(minutes=15)))
    assert staff.decide_create(staff.StaffUser(), cmd, _act(logged_in_ago=timedelta(minutes=5)))
