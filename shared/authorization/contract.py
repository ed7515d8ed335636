"""The authorization part of `contacts.events`, as a consumer reads it (the public contract).

Contacts publishes these event types (CloudEvents, key = customer number, all of one customer on
one partition in order). Everything a consumer needs to decide "may this person have this done"
is in the event data plus the envelope's `occurred_at`; nobody has to call contacts.

    ContactAdded                 contact_id, name, email (lower-case), phone (as entered),
                                 phone_e164, organisation, organisation_kind, function
    ContactDetailsChanged        the same fields, all of them (the new state, not a diff)
    ContactRemoved               contact_id, reason ("removed" | "left_organisation"), removed_by, note
    ContactAuthorized            grant_id, contact_id, scopes [shared.scopes values], valid_from,
                                 valid_until (null: open-ended), granted_by, basis, note
    ContactAuthorizationRevoked  grant_id, contact_id, reason, revoked_by, basis
    OfficialInstructionIssued    document_reference, issued_by, note
    OfficialInstructionWithdrawn document_reference, withdrawn_by, reason

`granted_by` / `revoked_by` / ... name who *decided* (`customer:<n>`, `contact:<uuid>`,
`staff:<name>`); the envelope's actor is who recorded it (a support agent acting on a contact's
request, for example). A revocation or removal takes effect at the envelope's `occurred_at`; a
grant from `valid_from` (never before it was recorded) until `valid_until` (exclusive).
Fields added later are optional; a breaking change would get a new schema version.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.authorization.identifiers import InvalidIdentifier, normalise_phone
from shared.authorization.model import ContactRecord, GrantRecord, InstructionState
from shared.envelope import RecordedEvent

CONTACT_ADDED = "ContactAdded"
CONTACT_DETAILS_CHANGED = "ContactDetailsChanged"
CONTACT_REMOVED = "ContactRemoved"
CONTACT_AUTHORIZED = "ContactAuthorized"
CONTACT_AUTHORIZATION_REVOKED = "ContactAuthorizationRevoked"
OFFICIAL_INSTRUCTION_ISSUED = "OfficialInstructionIssued"
OFFICIAL_INSTRUCTION_WITHDRAWN = "OfficialInstructionWithdrawn"

AUTHORIZATION_EVENT_TYPES = frozenset(
    {
        CONTACT_ADDED,
        CONTACT_DETAILS_CHANGED,
        CONTACT_REMOVED,
        CONTACT_AUTHORIZED,
        CONTACT_AUTHORIZATION_REVOKED,
        OFFICIAL_INSTRUCTION_ISSUED,
        OFFICIAL_INSTRUCTION_WITHDRAWN,
    }
)


class GrantBasis(StrEnum):
    """On what basis a grant (or revocation) was made; follows from who acted."""

    PORTAL_ACCOUNT_OWNER = "portal_account_owner"  # the account owner, in the portal
    WRITTEN_INSTRUCTION = "written_instruction_received"  # support, on the owner's written instruction
    CONTACT_VIA_SUPPORT = "contact_request_via_support"  # support, at the request of a managing contact


class OrganisationKind(StrEnum):
    CUSTOMER = "customer"  # the customer itself
    CONTRACTOR = "contractor"  # a named contractor (e.g. the customer's web agency)


class RemovalReason(StrEnum):
    REMOVED = "removed"
    LEFT_ORGANISATION = "left_organisation"


@dataclass(frozen=True, slots=True)
class ContactFacts:
    contact_id: uuid.UUID
    name: str
    email: str
    phone: str | None
    phone_e164: str | None
    organisation: str | None
    organisation_kind: str
    function: str | None


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _optional_instant(value: Any) -> datetime | None:
    return None if value is None else _instant(value)


def contact_facts(data: Mapping[str, Any]) -> ContactFacts:
    phone = data.get("phone")
    phone_e164 = data.get("phone_e164")
    if phone_e164 is None and phone:
        # Events from before phone_e164 existed: normalise here, as contacts would have.
        try:
            phone_e164 = normalise_phone(str(phone))
        except InvalidIdentifier:
            phone_e164 = None
    return ContactFacts(
        contact_id=_uuid(data["contact_id"]),
        name=str(data["name"]),
        email=str(data["email"]).strip().lower(),
        phone=phone,
        phone_e164=phone_e164,
        organisation=data.get("organisation"),
        organisation_kind=str(data.get("organisation_kind") or OrganisationKind.CUSTOMER.value),
        function=data.get("function"),
    )


def contact_added(event: RecordedEvent) -> ContactRecord:
    return ContactRecord(contact_id=_uuid(event.data["contact_id"]), added_at=event.occurred_at)


def contact_removed(event: RecordedEvent) -> tuple[uuid.UUID, datetime, str, str]:
    """(contact id, removed at, removed by, reason)."""
    d = event.data
    return _uuid(d["contact_id"]), event.occurred_at, str(d.get("removed_by") or event.actor), str(d["reason"])


def grant(event: RecordedEvent) -> GrantRecord:
    d = event.data
    return GrantRecord(
        grant_id=_uuid(d["grant_id"]),
        contact_id=_uuid(d["contact_id"]),
        scopes=tuple(sorted(str(s) for s in d["scopes"])),
        valid_from=_instant(d["valid_from"]),
        valid_until=_optional_instant(d.get("valid_until")),
        granted_at=event.occurred_at,
        granted_by=str(d["granted_by"]),
        basis=str(d["basis"]),
        note=d.get("note"),
    )


def revocation(event: RecordedEvent) -> tuple[uuid.UUID, datetime, str, str]:
    """(grant id, revoked at, revoked by, reason)."""
    d = event.data
    return _uuid(d["grant_id"]), event.occurred_at, str(d.get("revoked_by") or event.actor), str(d["reason"])


def instruction(event: RecordedEvent) -> InstructionState:
    d = event.data
    issued = event.event_type == OFFICIAL_INSTRUCTION_ISSUED
    by = d.get("issued_by") if issued else d.get("withdrawn_by")
    return InstructionState(
        in_force=issued,
        document_reference=d.get("document_reference"),
        since=event.occurred_at,
        changed_by=str(by or event.actor),
    )
