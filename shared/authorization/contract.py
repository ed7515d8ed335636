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

Finding a person by what support heard: e-mail lower-cased, phone as E.164 read in Germany, and a
national number that names no one matched against numbers abroad with the same national number
(`shared.authorization.identifiers`: `Requester.heard`, `abroad_match`); a copy that finds people
itself follows the same rules, or its answers differ from contacts' check.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from shared.authorization.identifiers import InvalidIdentifier, normalise_phone
from shared.authorization.model import GrantRecord, InstructionState
from shared.envelope import RecordedEvent


def stream_of(customer_number: str) -> str:
    """The stream all of a customer's authorization events belong to (their `stream_id`; a copy
    that records how far it is names this stream and the version it applied last)."""
    return f"customer-contacts-{customer_number}"


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


@dataclass(frozen=True, slots=True)
class Removal:
    contact_id: uuid.UUID
    removed_at: datetime
    removed_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Revocation:
    grant_id: uuid.UUID
    revoked_at: datetime
    revoked_by: str
    reason: str


class Fact(NamedTuple):
    """One authorization event as the folds read it: its envelope facts and every data field
    they use, parsed (None where the event has no such field).

    Two readers make the same `Fact`: `fact(event)` in Python, for events one at a time (Kafka,
    live followers), and `FACT_COLUMNS` in PostgreSQL, for bulk reads of a store (the database
    extracts and casts the fields while Python folds; a test holds the two equal). Everything
    else (records, normalisation, fallbacks) is built from a `Fact` by the functions below.
    """

    event_type: str
    customer_number: str
    stream_id: str
    stream_version: int
    occurred_at: datetime
    contact_id: uuid.UUID | None
    grant_id: uuid.UUID | None
    name: str | None
    email: str | None
    phone: str | None
    phone_e164: str | None
    organisation: str | None
    organisation_kind: str | None
    function: str | None
    scopes: list[str] | None
    valid_from: datetime | None
    valid_until: datetime | None
    # Who decided: granted_by, removed_by, revoked_by, issued_by or withdrawn_by by event type;
    # for all but grants the envelope's actor when the field is missing or empty.
    decided_by: str | None
    basis: str | None
    note: str | None
    reason: str | None
    document_reference: str | None


_DECIDED_BY = {
    CONTACT_AUTHORIZED: "granted_by",
    CONTACT_REMOVED: "removed_by",
    CONTACT_AUTHORIZATION_REVOKED: "revoked_by",
    OFFICIAL_INSTRUCTION_ISSUED: "issued_by",
    OFFICIAL_INSTRUCTION_WITHDRAWN: "withdrawn_by",
}


def _sql_decided_by() -> str:
    cases = []
    for event_type, field in _DECIDED_BY.items():
        value = f"data->>'{field}'"
        if event_type != CONTACT_AUTHORIZED:
            value = f"COALESCE(NULLIF({value}, ''), actor)"
        cases.append(f"WHEN '{event_type}' THEN {value}")
    return f"CASE event_type {' '.join(cases)} END"


# `Fact`'s fields as a select list over the `events` table, in `Fact`'s order. Built from module
# constants only.
FACT_COLUMNS = ", ".join(
    [
        "event_type, customer_number, stream_id, stream_version, occurred_at",
        "(data->>'contact_id')::uuid, (data->>'grant_id')::uuid",
        *(f"data->>'{f}'" for f in ("name", "email", "phone", "phone_e164", "organisation")),
        "data->>'organisation_kind', data->>'function'",
        "CASE jsonb_typeof(data->'scopes') WHEN 'array' THEN"
        " ARRAY(SELECT jsonb_array_elements_text(data->'scopes')) END",
        "(data->>'valid_from')::timestamptz, (data->>'valid_until')::timestamptz",
        _sql_decided_by(),
        "data->>'basis', data->>'note', data->>'reason', data->>'document_reference'",
    ]
)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _instant(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _optional_uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else _uuid(value)


def _optional_instant(value: Any) -> datetime | None:
    return None if value is None else _instant(value)


def _text(value: Any) -> str | None:
    # As PostgreSQL's ->> gives it (the events hold strings here; numbers read the same).
    return value if value is None or isinstance(value, str) else str(value)


def _required(value: Any, field: str) -> Any:
    if value is None:
        raise ValueError(f"authorization event without {field}")
    return value


def fact(event: RecordedEvent) -> Fact:
    d = event.data
    kind = event.event_type
    decided_by = None
    field = _DECIDED_BY.get(kind)
    if field is not None:
        decided_by = _text(d.get(field))
        if not decided_by and kind != CONTACT_AUTHORIZED:
            decided_by = str(event.actor)
    scopes = d.get("scopes")
    return Fact(
        kind,
        event.customer_number,
        event.stream_id,
        event.stream_version,
        event.occurred_at,
        _optional_uuid(d.get("contact_id")),
        _optional_uuid(d.get("grant_id")),
        _text(d.get("name")),
        _text(d.get("email")),
        _text(d.get("phone")),
        _text(d.get("phone_e164")),
        _text(d.get("organisation")),
        _text(d.get("organisation_kind")),
        _text(d.get("function")),
        [str(s) for s in scopes] if isinstance(scopes, list) else None,
        _optional_instant(d.get("valid_from")),
        _optional_instant(d.get("valid_until")),
        decided_by,
        _text(d.get("basis")),
        _text(d.get("note")),
        _text(d.get("reason")),
        _text(d.get("document_reference")),
    )


def contact_facts_of(f: Fact) -> ContactFacts:
    phone_e164 = f.phone_e164
    if phone_e164 is None and f.phone:
        # Events from before phone_e164 existed: normalise here, as contacts would have.
        try:
            phone_e164 = normalise_phone(f.phone)
        except InvalidIdentifier:
            phone_e164 = None
    return ContactFacts(
        contact_id=_required(f.contact_id, "contact_id"),
        name=_required(f.name, "name"),
        email=_required(f.email, "email").strip().lower(),
        phone=f.phone,
        phone_e164=phone_e164,
        organisation=f.organisation,
        organisation_kind=f.organisation_kind or OrganisationKind.CUSTOMER.value,
        function=f.function,
    )


def removal_of(f: Fact) -> Removal:
    by = _required(f.decided_by, "removed_by")
    return Removal(_required(f.contact_id, "contact_id"), f.occurred_at, by, _required(f.reason, "reason"))


def grant_of(f: Fact) -> GrantRecord:
    return GrantRecord(
        grant_id=_required(f.grant_id, "grant_id"),
        contact_id=_required(f.contact_id, "contact_id"),
        scopes=tuple(sorted(_required(f.scopes, "scopes"))),
        valid_from=_required(f.valid_from, "valid_from"),
        valid_until=f.valid_until,
        granted_at=f.occurred_at,
        granted_by=_required(f.decided_by, "granted_by"),
        basis=_required(f.basis, "basis"),
        note=f.note,
    )


def revocation_of(f: Fact) -> Revocation:
    by = _required(f.decided_by, "revoked_by")
    return Revocation(_required(f.grant_id, "grant_id"), f.occurred_at, by, _required(f.reason, "reason"))


def instruction_of(f: Fact) -> InstructionState:
    return InstructionState(
        in_force=f.event_type == OFFICIAL_INSTRUCTION_ISSUED,
        document_reference=f.document_reference,
        since=f.occurred_at,
        changed_by=f.decided_by,
    )


# The same, from a recorded event (one reading: through `fact`).


def contact_facts(event: RecordedEvent) -> ContactFacts:
    return contact_facts_of(fact(event))


def contact_removed(event: RecordedEvent) -> Removal:
    return removal_of(fact(event))


def grant(event: RecordedEvent) -> GrantRecord:
    return grant_of(fact(event))


def revocation(event: RecordedEvent) -> Revocation:
    return revocation_of(fact(event))


def instruction(event: RecordedEvent) -> InstructionState:
    return instruction_of(fact(event))
