"""Reading the authorization tables as of an instant: the views `decide` needs.

`SqlAuthorizationReader` answers from the tables `AuthorizationProjection` maintains, in any
service's database. Facts recorded after the instant asked about are filtered out (in SQL where
cheap, and again by the `as_of` rules of `model.py`), so the answer as of T never depends on
what happened after T.

`load_customer` reads every row of one customer (four reads) into the in-memory model's
`CustomerAuthorizations`, which answers `view` with the same filters as `view_on`, for a reader
that keeps customers in memory between changes (domains' API; tests hold the two to the same
answers).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Protocol

import asyncpg

from shared.authorization.contract import stream_of
from shared.authorization.identifiers import Requester, RequesterKind, abroad_match
from shared.authorization.memory import CustomerAuthorizations, Span
from shared.authorization.model import (
    NO_INSTRUCTION,
    AuthorizationsAt,
    AuthorizationView,
    ContactDetails,
    ContactRecord,
    GrantRecord,
    InstructionState,
    authorizations_at,
    pick_contact,
)
from shared.db import Connection, Pool


class AuthorizationReader(Protocol):
    async def view(self, customer_number: str, requester: Requester, at: datetime) -> AuthorizationView: ...

    async def authorizations_at(self, customer_number: str, at: datetime) -> AuthorizationsAt: ...


# Column lists written out (not interpolated) so every statement is a plain constant.
_CONTACT_BY_ID = (
    "SELECT c.contact_id, c.added_at, c.removed_at, c.removed_by, c.removed_reason FROM authz_contacts c"
    " WHERE c.customer_number = $1 AND c.contact_id = $2 AND c.added_at <= $3"
)
_CONTACTS_BY_IDENTIFIER = """
SELECT c.contact_id, c.added_at, c.removed_at, c.removed_by, c.removed_reason FROM authz_identifiers i
JOIN authz_contacts c ON c.customer_number = i.customer_number AND c.contact_id = i.contact_id
WHERE i.customer_number = $1 AND i.kind = $2 AND i.value = $3
  AND i.valid_from <= $4 AND (i.valid_until IS NULL OR i.valid_until > $4) AND c.added_at <= $4
"""
_CONTACTS_BY_PHONE_ABROAD = """
SELECT c.contact_id, c.added_at, c.removed_at, c.removed_by, c.removed_reason, i.value FROM authz_identifiers i
JOIN authz_contacts c ON c.customer_number = i.customer_number AND c.contact_id = i.contact_id
WHERE i.customer_number = $1 AND i.kind = 'phone' AND right(i.value, length($2)) = $2
  AND i.valid_from <= $3 AND (i.valid_until IS NULL OR i.valid_until > $3) AND c.added_at <= $3
"""
_GRANTS_OF_CONTACT = """
SELECT grant_id, contact_id, scopes, valid_from, valid_until, granted_at, granted_by, basis, note,
       revoked_at, revoked_by, revoke_reason
FROM authz_grants WHERE customer_number = $1 AND contact_id = $2 AND granted_at <= $3
"""
_GRANTS_OF_CUSTOMER = """
SELECT grant_id, contact_id, scopes, valid_from, valid_until, granted_at, granted_by, basis, note,
       revoked_at, revoked_by, revoke_reason
FROM authz_grants WHERE customer_number = $1 AND granted_at <= $2 AND valid_from <= $2
  AND (valid_until IS NULL OR valid_until > $2) AND (revoked_at IS NULL OR revoked_at > $2)
"""
_CONTACTS_OF_CUSTOMER = """
SELECT c.contact_id, c.added_at, c.removed_at, c.removed_by, c.removed_reason FROM authz_contacts c
WHERE c.customer_number = $1 AND c.added_at <= $2 AND (c.removed_at IS NULL OR c.removed_at > $2)
"""
_INSTRUCTION_AT = """
SELECT in_force, document_reference, changed_at, changed_by FROM authz_instructions
WHERE customer_number = $1 AND changed_at <= $2
ORDER BY changed_at DESC, stream_version DESC LIMIT 1
"""


def contact_from_row(row: asyncpg.Record) -> ContactRecord:
    return ContactRecord(
        row["contact_id"], row["added_at"], row["removed_at"], row["removed_by"], row["removed_reason"]
    )


def grant_from_row(row: asyncpg.Record) -> GrantRecord:
    return GrantRecord(
        grant_id=row["grant_id"],
        contact_id=row["contact_id"],
        scopes=tuple(row["scopes"]),
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        granted_at=row["granted_at"],
        granted_by=row["granted_by"],
        basis=row["basis"],
        note=row["note"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
        revoke_reason=row["revoke_reason"],
    )


async def instruction_at(conn: Pool | Connection, customer_number: str, at: datetime) -> InstructionState:
    row = await conn.fetchrow(_INSTRUCTION_AT, customer_number, at)
    if row is None:
        return NO_INSTRUCTION
    return InstructionState(row["in_force"], row["document_reference"], row["changed_at"], row["changed_by"])


async def _resolve(conn: Connection, customer_number: str, requester: Requester, at: datetime) -> ContactRecord | None:
    if requester.kind is RequesterKind.CONTACT_ID:
        try:
            contact_id = uuid.UUID(requester.value)
        except ValueError:
            return None
        row = await conn.fetchrow(_CONTACT_BY_ID, customer_number, contact_id, at)
        return contact_from_row(row) if row is not None else None
    rows = await conn.fetch(_CONTACTS_BY_IDENTIFIER, customer_number, requester.kind.value, requester.value, at)
    found = pick_contact((contact_from_row(r) for r in rows), at)
    if found is None and requester.kind is RequesterKind.PHONE:
        abroad = abroad_match(requester.value)
        if abroad is not None:  # a national number heard: a caller from abroad? (see identifiers.py)
            rows = await conn.fetch(_CONTACTS_BY_PHONE_ABROAD, customer_number, abroad.national, at)
            found = pick_contact((contact_from_row(r) for r in rows if abroad(r["value"])), at)
    return found


async def view_on(conn: Connection, customer_number: str, requester: Requester, at: datetime) -> AuthorizationView:
    """The view `decide` needs, read on a connection the caller holds (e.g. its command's)."""
    contact = await _resolve(conn, customer_number, requester, at)
    grants: tuple[GrantRecord, ...] = ()
    if contact is not None:
        rows = await conn.fetch(_GRANTS_OF_CONTACT, customer_number, contact.contact_id, at)
        grants = tuple(grant_from_row(r) for r in rows)
    instruction = await instruction_at(conn, customer_number, at)
    return AuthorizationView(customer_number, contact, grants, instruction)


_CUSTOMER_CONTACTS = (
    "SELECT contact_id, added_at, removed_at, removed_by, removed_reason FROM authz_contacts WHERE customer_number = $1"
)
_CUSTOMER_IDENTIFIERS = (
    "SELECT kind, value, contact_id, valid_from, valid_until FROM authz_identifiers WHERE customer_number = $1"
)
_CUSTOMER_GRANTS = """
SELECT grant_id, contact_id, scopes, valid_from, valid_until, granted_at, granted_by, basis, note,
       revoked_at, revoked_by, revoke_reason
FROM authz_grants WHERE customer_number = $1
"""
_CUSTOMER_INSTRUCTIONS = """
SELECT in_force, document_reference, changed_at, changed_by FROM authz_instructions
WHERE customer_number = $1 ORDER BY changed_at, stream_version
"""


_CONTACT_DETAILS = """
SELECT contact_id, name, email, phone, organisation, function, removed_at
FROM authz_contacts WHERE customer_number = $1 AND contact_id = $2
"""


async def contact_details(db: Pool | Connection, customer_number: str, contact_id: uuid.UUID) -> ContactDetails | None:
    """A contact person of the customer as the copy has them (removed ones too), if any."""
    row = await db.fetchrow(_CONTACT_DETAILS, customer_number, contact_id)
    return ContactDetails(**dict(row)) if row is not None else None


_APPLIED_VERSION = "SELECT stream_version FROM consumer_stream_versions WHERE consumer = $1 AND stream_id = $2"


async def load_customer(conn: Connection, customer_number: str, consumer: str | None = None) -> CustomerAuthorizations:
    """Every row of one customer, read in one repeatable-read snapshot (a consistent whole);
    with the copy's `consumer`, also the stream version those rows reflect (its consumer records
    it in the same transaction as the rows: `consumer_stream_versions`)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        contacts = await conn.fetch(_CUSTOMER_CONTACTS, customer_number)
        identifiers = await conn.fetch(_CUSTOMER_IDENTIFIERS, customer_number)
        grants = await conn.fetch(_CUSTOMER_GRANTS, customer_number)
        instructions = await conn.fetch(_CUSTOMER_INSTRUCTIONS, customer_number)
        version = await conn.fetchval(_APPLIED_VERSION, consumer, stream_of(customer_number)) if consumer else 0
    kept = CustomerAuthorizations(customer_number, version=version or 0)
    kept.contacts = {row["contact_id"]: contact_from_row(row) for row in contacts}
    for row in identifiers:
        spans = kept.identifiers.setdefault((row["kind"], row["value"]), [])
        spans.append(Span(row["contact_id"], row["valid_from"], row["valid_until"]))
    for row in grants:
        kept.add_grant(grant_from_row(row))
    kept.instructions = [
        InstructionState(row["in_force"], row["document_reference"], row["changed_at"], row["changed_by"])
        for row in instructions
    ]
    return kept


class SqlAuthorizationReader:
    """Reads the projection's tables through a pool (one connection per call)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def view(self, customer_number: str, requester: Requester, at: datetime) -> AuthorizationView:
        async with self._pool.acquire() as conn:
            return await view_on(conn, customer_number, requester, at)

    async def authorizations_at(self, customer_number: str, at: datetime) -> AuthorizationsAt:
        async with self._pool.acquire() as conn:
            contacts = [contact_from_row(r) for r in await conn.fetch(_CONTACTS_OF_CUSTOMER, customer_number, at)]
            grants = [grant_from_row(r) for r in await conn.fetch(_GRANTS_OF_CUSTOMER, customer_number, at)]
            instruction = await instruction_at(conn, customer_number, at)
        return authorizations_at(customer_number, at, contacts, grants, instruction)
