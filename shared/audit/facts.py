"""Facts read from one customer's contacts events: grants by id, instruction changes, contacts.

The authorization fold (`AuthorizationMemory`) answers "as of T"; compliance also asks about one
grant by its id ("which grant did support rely on, who granted it, when was it revoked"), and a
report wants contacts by name. These helpers read the same event data with the same contract
functions (`shared.authorization.contract`), so there is still one reading of the events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.audit.events import AuditEvent
from shared.authorization import contract
from shared.authorization.model import GrantRecord, InstructionState

_CONTACTS = "contacts"


def _contacts_events(timeline: Iterable[AuditEvent], *types: str) -> Iterable[AuditEvent]:
    wanted = set(types)
    return (e for e in timeline if e.service == _CONTACTS and e.event_type in wanted)


def grants_of(timeline: Iterable[AuditEvent]) -> list[GrantRecord]:
    """Every grant of the customer with its revocation, if any (the first revocation counts)."""
    grants: dict[uuid.UUID, GrantRecord] = {}
    for event in _contacts_events(timeline, contract.CONTACT_AUTHORIZED, contract.CONTACT_AUTHORIZATION_REVOKED):
        recorded = event.to_recorded()
        if event.event_type == contract.CONTACT_AUTHORIZED:
            grant = contract.grant(recorded)
            grants.setdefault(grant.grant_id, grant)
        else:
            revocation = contract.revocation(recorded)
            existing = grants.get(revocation.grant_id)
            if existing is not None and existing.revoked_at is None:
                grants[revocation.grant_id] = existing.with_revocation(
                    revocation.revoked_at, revocation.revoked_by, revocation.reason
                )
    return list(grants.values())


def grant_by_id(timeline: Iterable[AuditEvent], grant_id: str) -> GrantRecord | None:
    try:
        wanted = uuid.UUID(grant_id)
    except ValueError:
        return None
    return next((g for g in grants_of(timeline) if g.grant_id == wanted), None)


def instruction_changes(timeline: Iterable[AuditEvent]) -> list[InstructionState]:
    return [
        contract.instruction(e.to_recorded())
        for e in _contacts_events(
            timeline, contract.OFFICIAL_INSTRUCTION_ISSUED, contract.OFFICIAL_INSTRUCTION_WITHDRAWN
        )
    ]


@dataclass(frozen=True, slots=True)
class ContactName:
    contact_id: str
    name: str
    email: str
    organisation: str | None
    since: datetime


def contact_names(timeline: Iterable[AuditEvent]) -> dict[str, ContactName]:
    """The latest name and e-mail recorded for each contact (for reports; nothing is decided on it)."""
    names: dict[str, ContactName] = {}
    for event in _contacts_events(timeline, contract.CONTACT_ADDED, contract.CONTACT_DETAILS_CHANGED):
        try:
            facts = contract.contact_facts(event.to_recorded())
        except (KeyError, ValueError):
            continue
        key = str(facts.contact_id)
        names[key] = ContactName(key, facts.name, facts.email, facts.organisation, event.occurred_at)
    return names
