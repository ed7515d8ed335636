"""The customer's contact persons, their grants and the official instruction, as one aggregate.

State is a fold over the events of the stream `customer-contacts-<n>`; the `decide_*` functions
take the state, a command, who acts and `now`, and return new events (or raise a domain error).
No I/O, no clock, no random ids: handlers pass them in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.contacts.domain.acting import Acting, ActingKind
from services.contacts.domain.errors import (
    ContactAlreadyRemoved,
    ContactChangedMeanwhile,
    DuplicateContact,
    InvalidContactDetails,
    NotPermitted,
    UnknownContact,
)
from services.contacts.domain.events import (
    ContactAdded,
    ContactAuthorizationRevoked,
    ContactAuthorized,
    ContactDetailsChanged,
    ContactRemoved,
    OfficialInstructionIssued,
    OfficialInstructionWithdrawn,
)
from shared.authorization import contract
from shared.authorization.contract import OrganisationKind, RemovalReason
from shared.authorization.identifiers import DEFAULT_REGION, InvalidIdentifier, normalise_email, normalise_phone
from shared.content_tags import content_tag, still_as_read
from shared.envelope import DomainEvent
from shared.scopes import Scope, covers, covers_all


def stream_id(customer_number: str) -> str:
    return contract.stream_of(customer_number)


@dataclass(frozen=True)
class Contact:
    contact_id: uuid.UUID
    name: str
    email: str
    phone: str | None
    organisation: str | None
    function: str | None
    phone_e164: str | None = None
    organisation_kind: OrganisationKind = OrganisationKind.CUSTOMER
    removed: bool = False

    def tag(self) -> str:
        return details_tag(self.name, self.email, self.phone, self.organisation, self.organisation_kind, self.function)


def details_tag(
    name: str, email: str, phone: str | None, organisation: str | None, organisation_kind: str, function: str | None
) -> str:
    """The ETag of a contact's details, equal exactly when the details are. The contact's GET answers
    it; a change that names it in If-Match is refused when someone changed the details meanwhile,
    instead of overwriting that change (a change sends all details, so it would undo theirs)."""
    return content_tag(name, email, phone, organisation, str(organisation_kind), function)


@dataclass(frozen=True)
class Grant:
    grant_id: uuid.UUID
    contact_id: uuid.UUID
    scopes: tuple[str, ...]
    valid_from: datetime
    valid_until: datetime | None
    granted_by: str
    basis: str
    note: str | None
    revoked: bool = False

    def terms(self) -> tuple[object, ...]:
        """What the grant gives, to whom, until when and on whose word: all but its id and start."""
        return (self.contact_id, self.scopes, self.valid_until, self.granted_by, self.basis, self.note)

    def active(self, now: datetime) -> bool:
        return not self.revoked and self.valid_from <= now and (self.valid_until is None or now < self.valid_until)

    def current_or_future(self, now: datetime) -> bool:
        """Not revoked and not expired: something a revocation still changes."""
        return not self.revoked and (self.valid_until is None or now < self.valid_until)


def grant_of(event: ContactAuthorized) -> Grant:
    return Grant(
        event.grant_id,
        event.contact_id,
        tuple(s.value for s in event.scopes),
        event.valid_from,
        event.valid_until,
        event.granted_by,
        event.basis.value,
        event.note,
    )


@dataclass(frozen=True)
class CustomerContacts:
    contacts: Mapping[uuid.UUID, Contact] = field(default_factory=dict)
    grants: Mapping[uuid.UUID, Grant] = field(default_factory=dict)
    instruction: str | None = None  # the document reference of the instruction in force

    def current(self, contact_id: uuid.UUID) -> Contact:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise UnknownContact(f"no contact {contact_id} for this customer")
        if contact.removed:
            raise ContactAlreadyRemoved(f"contact {contact_id} has been removed")
        return contact

    def held_scopes(self, contact_id: uuid.UUID, now: datetime) -> frozenset[str]:
        return frozenset(
            s for g in self.grants.values() if g.contact_id == contact_id and g.active(now) for s in g.scopes
        )


@dataclass(frozen=True)
class ContactDetails:
    name: str
    email: str
    phone: str | None = None
    organisation: str | None = None
    function: str | None = None
    organisation_kind: OrganisationKind = OrganisationKind.CUSTOMER


@dataclass(frozen=True)
class AddContact:
    customer_number: str
    name: str
    email: str
    phone: str | None = None
    organisation: str | None = None
    function: str | None = None
    organisation_kind: OrganisationKind = OrganisationKind.CUSTOMER

    @property
    def details(self) -> ContactDetails:
        return ContactDetails(
            self.name, self.email, self.phone, self.organisation, self.function, self.organisation_kind
        )


@dataclass(frozen=True)
class ChangeContactDetails:
    contact_id: uuid.UUID
    details: ContactDetails
    expected_tag: str | None = None  # the ETag the client read (If-Match), if it sent one


@dataclass(frozen=True)
class RemoveContact:
    contact_id: uuid.UUID
    note: str | None = None


@dataclass(frozen=True)
class RecordContactLeft:
    """Personnel change: the contact left the organisation; every grant goes, in one append."""

    contact_id: uuid.UUID
    note: str | None = None


def evolve(state: CustomerContacts, event: DomainEvent) -> CustomerContacts:
    if isinstance(event, ContactAdded | ContactDetailsChanged):
        contact = Contact(
            event.contact_id,
            event.name,
            event.email,
            event.phone,
            event.organisation,
            event.function,
            event.phone_e164,
            event.organisation_kind,
        )
        return replace(state, contacts={**state.contacts, event.contact_id: contact})
    if isinstance(event, ContactRemoved):
        removed = replace(state.contacts[event.contact_id], removed=True)
        return replace(state, contacts={**state.contacts, event.contact_id: removed})
    if isinstance(event, ContactAuthorized):
        return replace(state, grants={**state.grants, event.grant_id: grant_of(event)})
    if isinstance(event, ContactAuthorizationRevoked):
        revoked = replace(state.grants[event.grant_id], revoked=True)
        return replace(state, grants={**state.grants, event.grant_id: revoked})
    if isinstance(event, OfficialInstructionIssued):
        return replace(state, instruction=event.document_reference)
    if isinstance(event, OfficialInstructionWithdrawn):
        return replace(state, instruction=None)
    return state


def fold(events: Iterable[DomainEvent]) -> CustomerContacts:
    state = CustomerContacts()
    for event in events:
        state = evolve(state, event)
    return state


def ensure_may_manage(state: CustomerContacts, acting: Acting, now: datetime) -> frozenset[str] | None:
    """Scopes a contact acts within (None: owner or support, unrestricted); raises if it may not."""
    if acting.kind is not ActingKind.CONTACT_VIA_SUPPORT:
        return None
    assert acting.contact_id is not None
    contact = state.contacts.get(acting.contact_id)
    if contact is None or contact.removed:
        raise NotPermitted("the contact named as acting is not a current contact of this customer")
    held = state.held_scopes(acting.contact_id, now)
    if not covers(held, Scope.MANAGE_CONTACTS):
        raise NotPermitted("the acting contact may not manage contacts and their authorizations")
    return held


def ensure_may_manage_contact(state: CustomerContacts, acting: Acting, contact_id: uuid.UUID, now: datetime) -> None:
    """A contact acting via support changes, removes or records the departure of another contact
    only if it holds every scope that contact holds or is yet to hold. Otherwise a new e-mail or
    phone would hand that contact's authority to whoever answers them, and a removal would revoke
    grants the actor may not revoke one by one (`decide_revoke`)."""
    held = ensure_may_manage(state, acting, now)
    if held is None or contact_id == acting.contact_id:
        return
    theirs = {
        s for g in state.grants.values() if g.contact_id == contact_id and g.current_or_future(now) for s in g.scopes
    }
    if not covers_all(held, theirs):
        missing = sorted(s for s in theirs if not covers_all(held, [s]))
        raise NotPermitted(
            f"the acting contact cannot manage a contact who holds scopes it does not hold itself: {', '.join(missing)}"
        )


def _normalised(details: ContactDetails, region: str) -> tuple[str, str | None]:
    try:
        email = normalise_email(details.email)
        phone = normalise_phone(details.phone, region) if details.phone else None
    except InvalidIdentifier as exc:
        raise InvalidContactDetails(str(exc)) from None
    if details.organisation_kind is OrganisationKind.CONTRACTOR and not details.organisation:
        raise InvalidContactDetails("a contractor's contact needs the contractor's name as organisation")
    return email, phone


def _ensure_unique(state: CustomerContacts, email: str, phone: str | None, me: uuid.UUID | None) -> None:
    # Support identifies a caller by e-mail or phone alone, so among current contacts each must
    # point at one person.
    for other in state.contacts.values():
        if other.removed or other.contact_id == me:
            continue
        if other.email == email:
            raise DuplicateContact(f"a contact with e-mail {email} already exists for this customer")
        if phone is not None and other.phone_e164 == phone:
            raise DuplicateContact("a contact with this phone number already exists for this customer")


def decide_add_contact(
    state: CustomerContacts,
    cmd: AddContact,
    contact_id: uuid.UUID,
    acting: Acting,
    now: datetime,
    region: str = DEFAULT_REGION,
) -> list[DomainEvent]:
    """`region`: where a national phone number is read (the customer's country, see handlers)."""
    ensure_may_manage(state, acting, now)
    d = cmd.details
    email, phone = _normalised(d, region)
    _ensure_unique(state, email, phone, None)
    return [
        ContactAdded(
            contact_id=contact_id,
            name=d.name.strip(),
            email=email,
            phone=d.phone,
            organisation=d.organisation,
            function=d.function,
            phone_e164=phone,
            organisation_kind=d.organisation_kind,
        )
    ]


def decide_change_details(
    state: CustomerContacts, cmd: ChangeContactDetails, acting: Acting, now: datetime, region: str = DEFAULT_REGION
) -> list[DomainEvent]:
    ensure_may_manage_contact(state, acting, cmd.contact_id, now)
    contact = state.current(cmd.contact_id)
    if not still_as_read(cmd.expected_tag, contact.tag()):
        raise ContactChangedMeanwhile(
            f"contact {contact.contact_id} was changed after it was read (If-Match {cmd.expected_tag}): read it again"
        )
    d = cmd.details
    email, phone = _normalised(d, region)
    _ensure_unique(state, email, phone, contact.contact_id)
    changed = ContactDetailsChanged(
        contact_id=contact.contact_id,
        name=d.name.strip(),
        email=email,
        phone=d.phone,
        phone_e164=phone,
        organisation=d.organisation,
        organisation_kind=d.organisation_kind,
        function=d.function,
    )
    unchanged = (
        contact.name == changed.name
        and contact.email == email
        and contact.phone == d.phone
        and contact.organisation == d.organisation
        and contact.organisation_kind is d.organisation_kind
        and contact.function == d.function
    )
    return [] if unchanged else [changed]


def _revoke_all(
    state: CustomerContacts, contact_id: uuid.UUID, reason: str, acting: Acting, now: datetime
) -> list[DomainEvent]:
    return [
        ContactAuthorizationRevoked(
            grant_id=g.grant_id, contact_id=contact_id, reason=reason, revoked_by=acting.decider, basis=acting.basis
        )
        for g in sorted(state.grants.values(), key=lambda g: str(g.grant_id))
        if g.contact_id == contact_id and g.current_or_future(now)
    ]


def decide_remove_contact(
    state: CustomerContacts, cmd: RemoveContact, acting: Acting, now: datetime
) -> list[DomainEvent]:
    """Removing a contact revokes its grants first, so consumers need no special rule for it."""
    ensure_may_manage_contact(state, acting, cmd.contact_id, now)
    contact = state.current(cmd.contact_id)
    revocations = _revoke_all(state, contact.contact_id, "contact removed", acting, now)
    removed = ContactRemoved(contact.contact_id, RemovalReason.REMOVED, acting.decider, cmd.note)
    return [*revocations, removed]


def decide_contact_left(
    state: CustomerContacts, cmd: RecordContactLeft, acting: Acting, now: datetime
) -> list[DomainEvent]:
    """One `ContactAuthorizationRevoked` per grant still in effect or scheduled, then `ContactRemoved`.

    One event per grant (not one naming all) keeps consumers to the one revocation rule they
    already have; the events share one append, i.e. one transaction and one instant.
    """
    ensure_may_manage_contact(state, acting, cmd.contact_id, now)
    contact = state.current(cmd.contact_id)
    revocations = _revoke_all(state, contact.contact_id, "contact left the organisation", acting, now)
    removed = ContactRemoved(contact.contact_id, RemovalReason.LEFT_ORGANISATION, acting.decider, cmd.note)
    return [*revocations, removed]
