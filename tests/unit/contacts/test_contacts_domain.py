"""The contacts aggregate: given these events, when this command, then these events (or an error)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.contacts.domain import authorizations as grants
from services.contacts.domain import contacts
from services.contacts.domain.acting import Acting
from services.contacts.domain.errors import (
    ContactAlreadyRemoved,
    ContactChangedMeanwhile,
    DuplicateContact,
    GrantAlreadyGiven,
    GrantAlreadyRevoked,
    InstructionStateConflict,
    InvalidContactDetails,
    InvalidValidity,
    NotPermitted,
)
from services.contacts.domain.events import (
    ContactAdded,
    ContactAuthorizationRevoked,
    ContactAuthorized,
    ContactDetailsChanged,
    ContactRemoved,
    OfficialInstructionIssued,
    OfficialInstructionWithdrawn,
    registry,
)
from shared.authorization.contract import GrantBasis, OrganisationKind, RemovalReason
from shared.envelope import DomainEvent
from shared.scopes import Scope

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
N = "100001"
OWNER = Acting.account_owner(N)
ADA, BOB = uuid.UUID(int=1), uuid.UUID(int=2)


def added(cid: uuid.UUID, email: str, phone: str | None = None) -> ContactAdded:
    return ContactAdded(cid, email.split("@")[0], email, phone, None, None, phone_e164=phone and "+4930" + phone[-7:])


def authorized(gid: int, cid: uuid.UUID, *scopes: Scope, until: datetime | None = None) -> ContactAuthorized:
    return ContactAuthorized(
        uuid.UUID(int=gid),
        cid,
        scopes,
        NOW - timedelta(days=1),
        until,
        "customer:100001",
        GrantBasis.PORTAL_ACCOUNT_OWNER,
    )


def state(*events: DomainEvent) -> contacts.CustomerContacts:
    return contacts.fold(events)


def test_add_normalises_email_and_phone_and_refuses_duplicates() -> None:
    cmd = contacts.AddContact(N, " Ada ", "Ada@Example.ORG", "+49 (30) 123-4567")
    [event] = contacts.decide_add_contact(state(), cmd, ADA, OWNER, NOW)
    assert isinstance(event, ContactAdded)
    assert (event.name, event.email, event.phone_e164) == ("Ada", "ada@example.org", "+49301234567")
    after = state(event)
    with pytest.raises(DuplicateContact):
        contacts.decide_add_contact(after, contacts.AddContact(N, "Other", "ADA@example.org"), BOB, OWNER, NOW)
    with pytest.raises(DuplicateContact):
        contacts.decide_add_contact(
            after, contacts.AddContact(N, "Other", "o@example.org", "030 1234567"), BOB, OWNER, NOW
        )


def test_a_national_number_is_read_in_the_customers_country() -> None:
    cmd = contacts.AddContact(N, "Vera", "vera@example.at", "0664 1234567")
    [at_home] = contacts.decide_add_contact(state(), cmd, ADA, OWNER, NOW, region="AT")
    [default] = contacts.decide_add_contact(state(), cmd, ADA, OWNER, NOW)
    assert isinstance(at_home, ContactAdded)
    assert isinstance(default, ContactAdded)
    assert (at_home.phone_e164, default.phone_e164) == ("+436641234567", "+496641234567")
    assert at_home.phone == "0664 1234567"  # as entered, for display


def test_a_contractor_needs_its_name() -> None:
    cmd = contacts.AddContact(N, "Eve", "eve@agency.example", organisation_kind=OrganisationKind.CONTRACTOR)
    with pytest.raises(InvalidContactDetails):
        contacts.decide_add_contact(state(), cmd, ADA, OWNER, NOW)


def test_the_skeletons_contact_added_still_decodes() -> None:
    old = {"contact_id": str(ADA), "name": "Ada", "email": "ada@example.org", "phone": None, "organisation": None,
           "function": None}  # fmt: skip
    event = registry.decode_data("ContactAdded", 1, old)
    assert isinstance(event, ContactAdded)
    assert event.organisation_kind is OrganisationKind.CUSTOMER
    assert event.phone_e164 is None


def test_change_details_emits_the_full_new_state_or_nothing() -> None:
    s = state(added(ADA, "ada@example.org"))
    same = contacts.ChangeContactDetails(ADA, contacts.ContactDetails("ada", "ada@example.org"))
    assert contacts.decide_change_details(s, same, OWNER, NOW) == []
    moved = contacts.ChangeContactDetails(ADA, contacts.ContactDetails("Ada L.", "ada@new.example", "030 7654321"))
    [event] = contacts.decide_change_details(s, moved, OWNER, NOW)
    assert isinstance(event, ContactDetailsChanged)
    assert event.phone_e164 == "+49307654321"


def test_a_change_naming_the_details_read_is_refused_once_they_changed() -> None:
    s = state(added(ADA, "ada@example.org"))
    read = s.current(ADA).tag()
    assert read == contacts.details_tag("ada", "ada@example.org", None, None, "customer", None)
    for other in (
        contacts.details_tag("Ada", "ada@example.org", None, None, "customer", None),
        contacts.details_tag("ada", "ada@example.org", "030 1", None, "customer", None),
        contacts.details_tag("ada", "ada@example.org", None, None, "contractor", None),
        contacts.details_tag("ada", "ada@example.org", None, None, "customer", ""),
    ):
        assert other != read  # any detail, even None against ""
    change = contacts.ContactDetails("Ada L.", "ada@example.org")
    [event] = contacts.decide_change_details(s, contacts.ChangeContactDetails(ADA, change, read), OWNER, NOW)
    after = state(added(ADA, "ada@example.org"), event)
    with pytest.raises(ContactChangedMeanwhile):
        contacts.decide_change_details(after, contacts.ChangeContactDetails(ADA, change, read), OWNER, NOW)
    assert contacts.decide_change_details(after, contacts.ChangeContactDetails(ADA, change, None), OWNER, NOW) == []


def test_contact_left_revokes_every_grant_still_in_effect_then_removes() -> None:
    s = state(
        added(ADA, "ada@example.org"),
        authorized(10, ADA, Scope.CHANGE_DNS),
        authorized(11, ADA, Scope.VIEW_CONTRACTS, until=NOW - timedelta(hours=1)),  # expired: stays as it is
        authorized(12, ADA, Scope.ALL),
        ContactAuthorizationRevoked(uuid.UUID(int=12), ADA, "x", "customer:100001", GrantBasis.PORTAL_ACCOUNT_OWNER),
    )
    events = contacts.decide_contact_left(s, contacts.RecordContactLeft(ADA), Acting.support("sam"), NOW)
    assert [type(e) for e in events] == [ContactAuthorizationRevoked, ContactRemoved]
    revoked, removed = events
    assert isinstance(revoked, ContactAuthorizationRevoked)
    assert isinstance(removed, ContactRemoved)
    assert revoked.grant_id == uuid.UUID(int=10)
    assert revoked.basis is GrantBasis.WRITTEN_INSTRUCTION
    assert revoked.revoked_by == "staff:sam"
    assert removed.reason is RemovalReason.LEFT_ORGANISATION
    with pytest.raises(ContactAlreadyRemoved):
        contacts.decide_contact_left(
            state(*[added(ADA, "a@x.de"), removed]), contacts.RecordContactLeft(ADA), OWNER, NOW
        )


def test_a_removed_contacts_email_may_be_used_again() -> None:
    s = state(added(ADA, "ada@example.org"), ContactRemoved(ADA, RemovalReason.REMOVED, "customer:100001"))
    assert contacts.decide_add_contact(s, contacts.AddContact(N, "Ada", "ada@example.org"), BOB, OWNER, NOW)


def test_owner_grants_anything_from_now() -> None:
    s = state(added(ADA, "ada@example.org"))
    cmd = grants.AuthorizeContact(ADA, frozenset({Scope.CHANGE_DNS, Scope.VIEW_CONTRACTS}), note="web agency")
    [event] = grants.decide_authorize(s, cmd, OWNER, NOW, uuid.UUID(int=9))
    assert isinstance(event, ContactAuthorized)
    assert event.scopes == (Scope.VIEW_CONTRACTS, Scope.CHANGE_DNS) or set(event.scopes) == set(cmd.scopes)
    assert (event.valid_from, event.granted_by, event.basis) == (
        NOW,
        "customer:100001",
        GrantBasis.PORTAL_ACCOUNT_OWNER,
    )


def test_grants_cannot_be_back_dated_or_end_before_they_start() -> None:
    s = state(added(ADA, "ada@example.org"))
    with pytest.raises(InvalidValidity):
        grants.decide_authorize(
            s, grants.AuthorizeContact(ADA, frozenset({Scope.ALL}), NOW - timedelta(days=1)), OWNER, NOW, BOB
        )
    with pytest.raises(InvalidValidity, match="in the future"):
        grants.decide_authorize(s, grants.AuthorizeContact(ADA, frozenset({Scope.ALL}), None, NOW), OWNER, NOW, BOB)
    later = NOW + timedelta(days=2)
    with pytest.raises(InvalidValidity, match="after valid_from"):
        grants.decide_authorize(
            s, grants.AuthorizeContact(ADA, frozenset({Scope.ALL}), later, later - timedelta(days=1)), OWNER, NOW, BOB
        )


def test_a_managing_contact_grants_only_what_it_holds() -> None:
    s = state(
        added(ADA, "ada@example.org"),
        added(BOB, "bob@example.org"),
        authorized(10, ADA, Scope.MANAGE_CONTACTS, Scope.CHANGE_DNS),
    )
    ada = Acting.contact(ADA)
    [event] = grants.decide_authorize(s, grants.AuthorizeContact(BOB, frozenset({Scope.CHANGE_DNS})), ada, NOW, BOB)
    assert isinstance(event, ContactAuthorized)
    assert (event.granted_by, event.basis) == (f"contact:{ADA}", GrantBasis.CONTACT_VIA_SUPPORT)
    with pytest.raises(NotPermitted, match="billing:manage"):
        grants.decide_authorize(
            s, grants.AuthorizeContact(BOB, frozenset({Scope.CHANGE_DNS, Scope.MANAGE_BILLING})), ada, NOW, BOB
        )
    with pytest.raises(NotPermitted):
        grants.decide_authorize(s, grants.AuthorizeContact(BOB, frozenset({Scope.ALL})), ada, NOW, BOB)


def test_a_managing_contact_changes_or_removes_only_contacts_whose_scopes_it_holds() -> None:
    # Changing Bob's e-mail would hand his credentials:request to whoever reads the new address.
    cay, dan = uuid.UUID(int=3), uuid.UUID(int=4)
    s = state(
        added(ADA, "ada@example.org"),
        added(BOB, "bob@example.org"),
        added(cay, "cay@example.org"),
        added(dan, "dan@example.org"),
        authorized(10, ADA, Scope.MANAGE_CONTACTS, Scope.CHANGE_DNS),
        authorized(11, BOB, Scope.REQUEST_CREDENTIALS),
        authorized(12, cay, Scope.CHANGE_DNS),
        authorized(13, dan, Scope.MANAGE_BILLING, until=NOW - timedelta(hours=1)),
    )
    ada = Acting.contact(ADA)

    def new_email(cid: uuid.UUID) -> contacts.ChangeContactDetails:
        return contacts.ChangeContactDetails(cid, contacts.ContactDetails("Someone", "someone@evil.example"))

    with pytest.raises(NotPermitted, match="credentials:request"):
        contacts.decide_change_details(s, new_email(BOB), ada, NOW)
    with pytest.raises(NotPermitted, match="credentials:request"):
        contacts.decide_remove_contact(s, contacts.RemoveContact(BOB), ada, NOW)
    with pytest.raises(NotPermitted, match="credentials:request"):
        contacts.decide_contact_left(s, contacts.RecordContactLeft(BOB), ada, NOW)
    assert contacts.decide_change_details(s, new_email(BOB), OWNER, NOW)

    # Scopes Ada holds herself, expired grants and her own details are hers to manage.
    assert contacts.decide_change_details(s, new_email(cay), ada, NOW)
    assert contacts.decide_contact_left(s, contacts.RecordContactLeft(cay), ada, NOW)
    assert contacts.decide_change_details(s, new_email(dan), ada, NOW)
    assert contacts.decide_change_details(s, new_email(ADA), ada, NOW)

    # A grant yet to start counts: it is authority the new address would receive.
    later = grants.decide_authorize(
        s,
        grants.AuthorizeContact(cay, frozenset({Scope.PLACE_ORDERS}), NOW + timedelta(days=1)),
        OWNER,
        NOW,
        uuid.UUID(int=14),
    )
    with pytest.raises(NotPermitted, match="orders:place"):
        contacts.decide_change_details(contacts.evolve(s, later[0]), new_email(cay), ada, NOW)


def test_a_contact_without_manage_scope_manages_nothing() -> None:
    s = state(added(ADA, "ada@example.org"), added(BOB, "bob@example.org"), authorized(10, ADA, Scope.ALL))
    bob = Acting.contact(BOB)
    with pytest.raises(NotPermitted):
        contacts.decide_add_contact(s, contacts.AddContact(N, "Eve", "eve@example.org"), uuid.uuid4(), bob, NOW)
    with pytest.raises(NotPermitted):
        grants.decide_revoke(s, grants.RevokeAuthorization(uuid.UUID(int=10), "no"), bob, NOW)
    # "all" includes managing contacts.
    assert contacts.decide_add_contact(
        s, contacts.AddContact(N, "Eve", "e@x.de"), uuid.uuid4(), Acting.contact(ADA), NOW
    )


def test_the_same_grant_twice_is_refused_naming_the_first_and_any_difference_makes_a_new_one() -> None:
    s = state(added(ADA, "ada@example.org"))
    cmd = grants.AuthorizeContact(ADA, frozenset({Scope.CHANGE_DNS, Scope.VIEW_CONTRACTS}), note="web agency")
    [first] = grants.decide_authorize(s, cmd, OWNER, NOW, uuid.UUID(int=9))
    s = contacts.evolve(s, first)

    # A retry or a second click, now or an hour later while the grant is in force: refused.
    for later in (NOW, NOW + timedelta(hours=1)):
        with pytest.raises(GrantAlreadyGiven) as refused:
            grants.decide_authorize(s, cmd, OWNER, later, uuid.UUID(int=10))
        assert refused.value.extensions == {"grant_id": str(uuid.UUID(int=9))}

    # Anything that differs is a grant of its own: scopes, end, note, who decides (and so the basis).
    different = [
        (replace(cmd, scopes=frozenset({Scope.CHANGE_DNS})), OWNER),
        (replace(cmd, valid_until=NOW + timedelta(days=30)), OWNER),
        (replace(cmd, note="written order of 4 May"), OWNER),
        (cmd, Acting.support("sam")),
    ]
    for other, acting in different:
        assert grants.decide_authorize(s, other, acting, NOW, uuid.UUID(int=11))

    # Once revoked, the same grant may be given again.
    [revoked] = grants.decide_revoke(s, grants.RevokeAuthorization(uuid.UUID(int=9), "mistake"), OWNER, NOW)
    assert grants.decide_authorize(contacts.evolve(s, revoked), cmd, OWNER, NOW, uuid.UUID(int=12))

    # A grant starting later is the same only when it starts at the same instant.
    start = NOW + timedelta(days=7)
    future = replace(cmd, valid_from=start)
    [pending] = grants.decide_authorize(s, future, OWNER, NOW, uuid.UUID(int=14))
    with pytest.raises(GrantAlreadyGiven):
        grants.decide_authorize(contacts.evolve(s, pending), future, OWNER, NOW, uuid.UUID(int=15))
    assert grants.decide_authorize(
        contacts.evolve(s, pending), replace(future, valid_from=start + timedelta(days=1)), OWNER, NOW, BOB
    )


def test_revoke_once() -> None:
    s = state(added(ADA, "ada@example.org"), authorized(10, ADA, Scope.CHANGE_DNS))
    [event] = grants.decide_revoke(s, grants.RevokeAuthorization(uuid.UUID(int=10), "project over"), OWNER, NOW)
    with pytest.raises(GrantAlreadyRevoked):
        grants.decide_revoke(contacts.evolve(s, event), grants.RevokeAuthorization(uuid.UUID(int=10), "x"), OWNER, NOW)


def test_official_instruction_is_the_owners_matter() -> None:
    s = state(added(ADA, "ada@example.org"), authorized(10, ADA, Scope.ALL))
    with pytest.raises(NotPermitted):
        grants.decide_issue_instruction(s, grants.IssueOfficialInstruction("DOC-1"), Acting.contact(ADA))
    [issued] = grants.decide_issue_instruction(s, grants.IssueOfficialInstruction("DOC-1"), Acting.support("sam"))
    assert isinstance(issued, OfficialInstructionIssued)
    assert issued.issued_by == "staff:sam"
    s = contacts.evolve(s, issued)
    with pytest.raises(InstructionStateConflict):
        grants.decide_issue_instruction(s, grants.IssueOfficialInstruction("DOC-1"), OWNER)
    [withdrawn] = grants.decide_withdraw_instruction(s, grants.WithdrawOfficialInstruction("ended"), OWNER)
    assert isinstance(withdrawn, OfficialInstructionWithdrawn)
    assert withdrawn.document_reference == "DOC-1"
    with pytest.raises(InstructionStateConflict):
        grants.decide_withdraw_instruction(contacts.evolve(s, withdrawn), grants.WithdrawOfficialInstruction(), OWNER)
