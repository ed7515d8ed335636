"""`AuthorizationProjection`: who holds which scopes for which customer, in PostgreSQL.

One class for every service: contacts runs it on its own event store (`ServiceSpec.projections`),
billing and domains on `contacts.events` (`ServiceSpec.kafka_projections`); the tables and the
rules are the same everywhere. Nothing is deleted: removals, revocations and identifier changes
close intervals, so the tables answer "as of T" for any T (see `queries.py`).

`apply` depends on the event alone (its data and `occurred_at`), as rebuilds require.
"""

from __future__ import annotations

from shared.authorization import contract
from shared.authorization.rows import AuthorizationRows, identifiers_of
from shared.db import Connection
from shared.envelope import RecordedEvent
from shared.kafka import topic_for

DDL = """
CREATE TABLE IF NOT EXISTS authz_contacts (
    customer_number   text        NOT NULL,
    contact_id        uuid        NOT NULL,
    name              text        NOT NULL,
    email             text        NOT NULL,
    phone             text,
    phone_e164        text,
    organisation      text,
    organisation_kind text        NOT NULL,
    function          text,
    added_at          timestamptz NOT NULL,
    removed_at        timestamptz,
    removed_by        text,
    removed_reason    text,
    PRIMARY KEY (customer_number, contact_id)
);
CREATE TABLE IF NOT EXISTS authz_identifiers (
    customer_number text        NOT NULL,
    kind            text        NOT NULL,
    value           text        NOT NULL,
    contact_id      uuid        NOT NULL,
    valid_from      timestamptz NOT NULL,
    valid_until     timestamptz,
    PRIMARY KEY (customer_number, kind, value, contact_id, valid_from)
);
CREATE INDEX IF NOT EXISTS authz_identifiers_contact ON authz_identifiers (customer_number, contact_id)
    WHERE valid_until IS NULL;
CREATE TABLE IF NOT EXISTS authz_grants (
    customer_number text        NOT NULL,
    grant_id        uuid        NOT NULL,
    contact_id      uuid        NOT NULL,
    scopes          text[]      NOT NULL,
    valid_from      timestamptz NOT NULL,
    valid_until     timestamptz,
    granted_at      timestamptz NOT NULL,
    granted_by      text        NOT NULL,
    basis           text        NOT NULL,
    note            text,
    revoked_at      timestamptz,
    revoked_by      text,
    revoke_reason   text,
    PRIMARY KEY (customer_number, grant_id)
);
CREATE INDEX IF NOT EXISTS authz_grants_contact ON authz_grants (customer_number, contact_id);
CREATE TABLE IF NOT EXISTS authz_instructions (
    customer_number    text        NOT NULL,
    stream_id          text        NOT NULL,
    stream_version     integer     NOT NULL,
    changed_at         timestamptz NOT NULL,
    in_force           boolean     NOT NULL,
    document_reference text,
    changed_by         text        NOT NULL,
    PRIMARY KEY (customer_number, changed_at, stream_id, stream_version)
);
"""

_ADD_CONTACT = """
INSERT INTO authz_contacts (customer_number, contact_id, name, email, phone, phone_e164, organisation,
                            organisation_kind, function, added_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (customer_number, contact_id) DO NOTHING
"""

_CHANGE_CONTACT = """
UPDATE authz_contacts SET name = $3, email = $4, phone = $5, phone_e164 = $6, organisation = $7,
       organisation_kind = $8, function = $9
WHERE customer_number = $1 AND contact_id = $2
"""

# Close the identifiers the contact no longer has, open the ones it has newly.
_CLOSE_IDENTIFIERS = """
UPDATE authz_identifiers SET valid_until = $3
WHERE customer_number = $1 AND contact_id = $2 AND valid_until IS NULL
  AND NOT ((kind, value) IN (SELECT * FROM unnest($4::text[], $5::text[])))
"""

_OPEN_IDENTIFIERS = """
INSERT INTO authz_identifiers (customer_number, kind, value, contact_id, valid_from)
SELECT $1, w.kind, w.value, $2, $3 FROM unnest($4::text[], $5::text[]) AS w(kind, value)
WHERE NOT EXISTS (SELECT 1 FROM authz_identifiers i WHERE i.customer_number = $1 AND i.contact_id = $2
                  AND i.kind = w.kind AND i.value = w.value AND i.valid_until IS NULL)
ON CONFLICT (customer_number, kind, value, contact_id, valid_from) DO UPDATE SET valid_until = NULL
"""

_REMOVE_CONTACT = """
UPDATE authz_contacts SET removed_at = $3, removed_by = $4, removed_reason = $5
WHERE customer_number = $1 AND contact_id = $2 AND removed_at IS NULL
"""

_GRANT = """
INSERT INTO authz_grants (customer_number, grant_id, contact_id, scopes, valid_from, valid_until, granted_at,
                          granted_by, basis, note)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (customer_number, grant_id) DO NOTHING
"""

_REVOKE = """
UPDATE authz_grants SET revoked_at = $3, revoked_by = $4, revoke_reason = $5
WHERE customer_number = $1 AND grant_id = $2 AND revoked_at IS NULL
"""

_INSTRUCTION = """
INSERT INTO authz_instructions (customer_number, stream_id, stream_version, changed_at, in_force,
                                document_reference, changed_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT DO NOTHING
"""


class AuthorizationProjection:
    name = "authorization"
    tables = ("authz_contacts", "authz_identifiers", "authz_grants", "authz_instructions")
    ddl = DDL
    event_types = contract.AUTHORIZATION_EVENT_TYPES  # `apply` ignores every other type

    def __init__(self, topics: tuple[str, ...] = (topic_for("contacts"),)) -> None:
        # Used when run by a KafkaConsumerRunner; the own-store runner ignores it.
        self.topics = topics

    async def apply(self, conn: Connection, event: RecordedEvent) -> None:
        kind = event.event_type
        n = event.customer_number
        if kind in (contract.CONTACT_ADDED, contract.CONTACT_DETAILS_CHANGED):
            f = contract.contact_facts(event)
            fields = (f.name, f.email, f.phone, f.phone_e164, f.organisation, f.organisation_kind, f.function)
            if kind == contract.CONTACT_ADDED:
                await conn.execute(_ADD_CONTACT, n, f.contact_id, *fields, event.occurred_at)
            elif await conn.execute(_CHANGE_CONTACT, n, f.contact_id, *fields) == "UPDATE 0":
                return  # a change of a contact never added: nothing to track
            wanted = identifiers_of(f)
            kinds, values = [k for k, _ in wanted], [v for _, v in wanted]
            await conn.execute(_CLOSE_IDENTIFIERS, n, f.contact_id, event.occurred_at, kinds, values)
            await conn.execute(_OPEN_IDENTIFIERS, n, f.contact_id, event.occurred_at, kinds, values)
        elif kind == contract.CONTACT_REMOVED:
            removal = contract.contact_removed(event)
            await conn.execute(
                _REMOVE_CONTACT, n, removal.contact_id, removal.removed_at, removal.removed_by, removal.reason
            )
        elif kind == contract.CONTACT_AUTHORIZED:
            g = contract.grant(event)
            await conn.execute(
                _GRANT,
                n,
                g.grant_id,
                g.contact_id,
                list(g.scopes),
                g.valid_from,
                g.valid_until,
                g.granted_at,
                g.granted_by,
                g.basis,
                g.note,
            )
        elif kind == contract.CONTACT_AUTHORIZATION_REVOKED:
            revocation = contract.revocation(event)
            await conn.execute(
                _REVOKE, n, revocation.grant_id, revocation.revoked_at, revocation.revoked_by, revocation.reason
            )
        elif kind in (contract.OFFICIAL_INSTRUCTION_ISSUED, contract.OFFICIAL_INSTRUCTION_WITHDRAWN):
            state = contract.instruction(event)
            await conn.execute(
                _INSTRUCTION,
                n,
                event.stream_id,
                event.stream_version,
                event.occurred_at,
                state.in_force,
                state.document_reference,
                state.changed_by,
            )

    def bulk_fold(self) -> AuthorizationRows:
        """The same tables folded in memory, for a rebuild (a subclass whose `apply` writes
        anything else to the tables must override this)."""
        return AuthorizationRows()
