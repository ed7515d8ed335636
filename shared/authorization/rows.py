"""`AuthorizationProjection`'s four tables folded in memory, for a bulk rebuild.

A rebuild has no concurrent readers of its scratch tables, so it need not run the projection's
SQL once per event: `AuthorizationRows` applies each event to the rows in memory exactly as the
projection's statements would change them (the same keys, the same "first insert wins", the same
"close only what is open"), and hands out the final rows for `COPY`. Equality with the per-event
SQL is what `shared.rebuild` proves on every rebuild (EXCEPT ALL against the live tables) and
what the tests check on generated histories. Pure: no I/O.

The comments name the statement of `projection.py` each step stands for.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.authorization import contract
from shared.envelope import RecordedEvent

# Column positions in the authz_contacts and authz_grants rows (DDL order).
_CONTACT_FIELDS = slice(2, 9)  # name .. function
_REMOVED_AT = 10
_REVOKED_AT = 10


def identifiers_of(facts: contract.ContactFacts) -> list[tuple[str, str]]:
    """The (kind, value) pairs a contact is found by: its e-mail, and its phone if it has one."""
    wanted = [("email", facts.email)]
    if facts.phone_e164:
        wanted.append(("phone", facts.phone_e164))
    return wanted


class AuthorizationRows:
    """The tables' rows, keyed by their primary keys; `rows()` gives them in DDL column order."""

    __slots__ = ("_contacts", "_grants", "_identifiers", "_instructions", "_open")

    def __init__(self) -> None:
        self._contacts: dict[tuple[str, uuid.UUID], list[Any]] = {}
        # (customer, kind, value, contact, valid_from) -> valid_until
        self._identifiers: dict[tuple[str, str, str, uuid.UUID, datetime], datetime | None] = {}
        # The rows with valid_until NULL, per (customer, contact): (kind, value) -> valid_from.
        # At most one per (kind, value): _OPEN_IDENTIFIERS inserts only when none is open.
        self._open: dict[tuple[str, uuid.UUID], dict[tuple[str, str], datetime]] = {}
        self._grants: dict[tuple[str, uuid.UUID], list[Any]] = {}
        self._instructions: dict[tuple[str, datetime, str, int], tuple[Any, ...]] = {}

    def apply(self, event: RecordedEvent) -> None:
        kind = event.event_type
        n = event.customer_number
        if kind in (contract.CONTACT_ADDED, contract.CONTACT_DETAILS_CHANGED):
            f = contract.contact_facts(event)
            key = (n, f.contact_id)
            row = self._contacts.get(key)
            fields = [f.name, f.email, f.phone, f.phone_e164, f.organisation, f.organisation_kind, f.function]
            if kind == contract.CONTACT_ADDED:
                if row is None:  # _ADD_CONTACT: ON CONFLICT DO NOTHING
                    self._contacts[key] = [n, f.contact_id, *fields, event.occurred_at, None, None, None]
            elif row is None:
                return  # _CHANGE_CONTACT updated nothing: nothing to track
            else:
                row[_CONTACT_FIELDS] = fields
            self._set_identifiers(key, identifiers_of(f), event.occurred_at)
        elif kind == contract.CONTACT_REMOVED:
            removal = contract.contact_removed(event)
            row = self._contacts.get((n, removal.contact_id))
            if row is not None and row[_REMOVED_AT] is None:  # _REMOVE_CONTACT
                row[_REMOVED_AT:] = [removal.removed_at, removal.removed_by, removal.reason]
        elif kind == contract.CONTACT_AUTHORIZED:
            g = contract.grant(event)
            key = (n, g.grant_id)
            if key not in self._grants:  # _GRANT: ON CONFLICT DO NOTHING
                self._grants[key] = [
                    n, g.grant_id, g.contact_id, list(g.scopes), g.valid_from, g.valid_until, g.granted_at,
                    g.granted_by, g.basis, g.note, None, None, None,
                ]  # fmt: skip
        elif kind == contract.CONTACT_AUTHORIZATION_REVOKED:
            revocation = contract.revocation(event)
            row = self._grants.get((n, revocation.grant_id))
            if row is not None and row[_REVOKED_AT] is None:  # _REVOKE
                row[_REVOKED_AT:] = [revocation.revoked_at, revocation.revoked_by, revocation.reason]
        elif kind in (contract.OFFICIAL_INSTRUCTION_ISSUED, contract.OFFICIAL_INSTRUCTION_WITHDRAWN):
            state = contract.instruction(event)
            pk = (n, event.occurred_at, event.stream_id, event.stream_version)
            if pk not in self._instructions:  # _INSTRUCTION: ON CONFLICT DO NOTHING
                self._instructions[pk] = (
                    n, event.stream_id, event.stream_version, event.occurred_at, state.in_force,
                    state.document_reference, state.changed_by,
                )  # fmt: skip

    def _set_identifiers(self, key: tuple[str, uuid.UUID], wanted: list[tuple[str, str]], at: datetime) -> None:
        n, contact_id = key
        current = self._open.get(key)
        if current is None:
            current = self._open[key] = {}
        # _CLOSE_IDENTIFIERS: the open rows of pairs no longer wanted end at `at`.
        for pair in [p for p in current if p not in wanted]:
            valid_from = current.pop(pair)
            self._identifiers[(n, pair[0], pair[1], contact_id, valid_from)] = at
        # _OPEN_IDENTIFIERS: a row from `at` for each wanted pair without an open row; a row with
        # the same key (closed at this very instant) is opened again (ON CONFLICT ... DO UPDATE).
        for pair in wanted:
            if pair not in current:
                current[pair] = at
                self._identifiers[(n, pair[0], pair[1], contact_id, at)] = None

    def rows(self) -> Mapping[str, Sequence[Sequence[Any]]]:
        """Every table's rows, each a whole row in the DDL's column order."""
        return {
            "authz_contacts": list(self._contacts.values()),
            "authz_identifiers": [
                (n, kind, value, contact_id, valid_from, valid_until)
                for (n, kind, value, contact_id, valid_from), valid_until in self._identifiers.items()
            ],
            "authz_grants": list(self._grants.values()),
            "authz_instructions": list(self._instructions.values()),
        }
