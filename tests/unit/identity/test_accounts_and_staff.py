"""Customer accounts and staff users: given events, when a command, then events (or a refusal)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.identity.domain import accounts, staff
from services.identity.domain.errors import (
    AccountAlreadyOpened,
    RecentLoginRequired,
    ReferenceEmailChangedMeanwhile,
    StaffUserExists,
    UnknownAccount,
)
from services.identity.domain.events import CustomerAccountOpened, ReferenceEmailChanged, StaffUserCreated
from shared.auth.principal import Role

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
RECENT = timedelta(minutes=10)
OPENED = CustomerAccountOpened("100001", "Ada Lovelace", "ada@example.org")


def test_opening_an_account() -> None:
    events = accounts.decide_open(accounts.CustomerAccount(), accounts.OpenCustomerAccount("100001", " Ada ", "A@B.DE"))
    assert events == [CustomerAccountOpened("100001", "Ada", "a@b.de")]
    with pytest.raises(AccountAlreadyOpened):
        accounts.decide_open(accounts.fold(events), accounts.OpenCustomerAccount("100001", "Ada", "a@b.de"))


def test_changing_the_reference_email_after_a_recent_login() -> None:
    state = accounts.fold([OPENED])
    cmd = accounts.ChangeReferenceEmail("100001", "New@Example.org", NOW - timedelta(minutes=9))
    assert accounts.decide_change_email(state, cmd, NOW, RECENT) == [
        ReferenceEmailChanged("100001", "new@example.org", "ada@example.org")
    ]
    same = accounts.ChangeReferenceEmail("100001", "ADA@example.org", NOW)
    assert accounts.decide_change_email(state, same, NOW, RECENT) == []


def test_a_reference_email_changed_after_it_was_read_is_not_overwritten() -> None:
    state = accounts.fold([OPENED])
    read = state.reference_tag()
    cmd = accounts.ChangeReferenceEmail("100001", "new@example.org", NOW, read)
    [changed] = accounts.decide_change_email(state, cmd, NOW, RECENT)
    later = accounts.fold([OPENED, changed])
    assert later.reference_tag() != read
    late = accounts.ChangeReferenceEmail("100001", "other@example.org", NOW, read)
    with pytest.raises(ReferenceEmailChangedMeanwhile):
        accounts.decide_change_email(later, late, NOW, RECENT)
    assert accounts.decide_change_email(
        later, accounts.ChangeReferenceEmail("100001", "other@example.org", NOW), NOW, RECENT
    )


def test_an_address_changed_and_back_after_the_read_is_a_change_too() -> None:
    state = accounts.fold([OPENED])
    read = state.reference_tag()
    away = ReferenceEmailChanged("100001", "other@example.org", "ada@example.org")
    back = ReferenceEmailChanged("100001", "ada@example.org", "other@example.org")
    later = accounts.fold([OPENED, away, back])
    assert later.reference_email == state.reference_email
    late = accounts.ChangeReferenceEmail("100001", "new@example.org", NOW, read)
    with pytest.raises(ReferenceEmailChangedMeanwhile):
        accounts.decide_change_email(later, late, NOW, RECENT)


def test_an_old_login_does_not_suffice() -> None:
    state = accounts.fold([OPENED])
    for authenticated_at in (NOW - timedelta(minutes=11), None):
        cmd = accounts.ChangeReferenceEmail("100001", "new@example.org", authenticated_at)
        with pytest.raises(RecentLoginRequired):
            accounts.decide_change_email(state, cmd, NOW, RECENT)


def test_changing_an_unknown_account() -> None:
    with pytest.raises(UnknownAccount):
        accounts.decide_change_email(
            accounts.CustomerAccount(), accounts.ChangeReferenceEmail("1", "a@b.de", NOW), NOW, RECENT
        )


def test_folding_the_email_history() -> None:
    state = accounts.fold([OPENED, ReferenceEmailChanged("100001", "b@example.org", "ada@example.org")])
    assert state.reference_email == "b@example.org"
    assert state.opened


def test_creating_staff_users() -> None:
    cmd = staff.CreateStaffUser("jdoe", "J. Doe", frozenset({Role.SUPPORT, Role.ADMIN}))
    events = staff.decide_create(staff.StaffUser(), cmd, None)
    assert events == [StaffUserCreated("jdoe", "J. Doe", ("admin", "support"))]
    assert staff.fold(events).roles == frozenset({Role.SUPPORT, Role.ADMIN})
    with pytest.raises(StaffUserExists):
        staff.decide_create(staff.fold(events), cmd, None)
    with pytest.raises(ValueError, match="staff roles"):
        staff.decide_create(staff.StaffUser(), staff.CreateStaffUser("x", "X", frozenset({Role.CUSTOMER})), None)
