"""The cross-service audit model: every published event, indexed per customer, in memory.

`AuditModel.add` is the replay's hot path and does only cheap work: drop a duplicate (same event
id: the relay re-publishes a batch after a crash), file the event under its customer, and note
whether it is an authorization change, a check (`AuthorizationChecked`) or an action (anything
billing, domains or contacts recorded, and anything else that names a requester). Everything
costlier happens per customer when a question first needs it (`history(n)`), or for all customers
at once with `materialize()`:

* the customer's authorization events are applied, per stream in version order, to the one
  authorization fold every service uses (`shared.authorization.AuthorizationMemory`), so "who
  could do what as of T" follows the same rules as the live check;
* the timeline is put in canonical order: (occurred_at, stream_id, stream_version, event_id).

Nothing depends on the order in which partitions were read: a customer's events are sorted before
anything is derived from them, authorization streams are applied in version order, and the state
hash is computed over that canonical order. Replaying twice, or a copy of the topics with another
partitioning, gives the same `state_hash()`.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC

import orjson

from shared.audit.authority import RecordedAuthority, classify
from shared.audit.events import AuditEvent
from shared.audit.facts import grants_of, instruction_changes
from shared.authorization import contract
from shared.authorization.memory import AuthorizationMemory

AUTHORIZATION_CHECKED = "AuthorizationChecked"


@contextlib.contextmanager
def bulk_load() -> Iterator[None]:
    """Pause the cyclic garbage collector while millions of long-lived objects are created.

    Every few hundred allocations the collector would walk the young objects, and regularly all of
    them: loading the model ran four times slower with it on. Nothing we create here forms cycles
    that need it (plain references, freed by reference counting).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_CONTACTS = "contacts"
_IDENTITY = "identity"

# What an event is to the audit (besides being part of its customer's timeline).
_OTHER, _ACTION, _CHECK, _AUTHORIZATION = 0, 1, 2, 3


@dataclass
class ReplayStats:
    duplicates: int = 0  # re-published copies dropped (same event id, same content)
    conflicting_duplicates: list[str] = field(default_factory=list)  # same id, different content!
    malformed: list[str] = field(default_factory=list)  # records that are not our CloudEvents


class CustomerHistory:
    """One customer's events; derived views are built on first use."""

    __slots__ = ("_pending_authorization", "_sorted", "actions", "checks", "events")

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self.checks: list[AuditEvent] = []
        self.actions: list[AuditEvent] = []
        self._pending_authorization: list[AuditEvent] = []
        self._sorted = True

    @property
    def timeline(self) -> list[AuditEvent]:
        if not self._sorted:
            for events in (self.events, self.checks, self.actions):
                events.sort(key=_sort_key)
            self._sorted = True
        return self.events

    def authorization_changes(self) -> list[AuditEvent]:
        return [
            e for e in self.timeline if e.service == _CONTACTS and e.event_type in contract.AUTHORIZATION_EVENT_TYPES
        ]


# Data fields that name the object an action was about (compared lower-case).
OBJECT_FIELDS = (
    "address",
    "check_id",
    "contact_id",
    "document_reference",
    "domain",
    "email",
    "grant_id",
    "mailbox_id",
    "source_host",
    "target",
    "username",
    "vhost",
)


def objects_of(event: AuditEvent) -> set[str]:
    data = event.data
    names = {event.stream_id.lower()}
    for key in OBJECT_FIELDS:
        value = data.get(key)
        if isinstance(value, str) and value:
            names.add(value.lower())
    return names


def _may_name(event: AuditEvent, name: str, needle: bytes) -> bool:
    """False only when none of the event's objects can be `name` (lower-cased; `needle` its UTF-8).

    Without escapes a JSON string's characters stand in the text as they are, so a value that
    lower-cases to `name` leaves `name` in the lower-cased text; in ASCII, lower-casing the bytes
    is lower-casing the text. JSON with escapes is parsed.
    """
    if event.stream_id.lower() == name:
        return True
    raw = event.raw_data
    if b"\\" in raw:
        return True
    if raw.isascii():
        return needle in raw.lower()
    return name in raw.decode(errors="replace").lower()


def _sort_key(event: AuditEvent) -> tuple[object, ...]:
    return event.sort_key


class AuditModel:
    def __init__(self) -> None:
        self._by_id: dict[str, AuditEvent] = {}
        self._customers: dict[str, CustomerHistory] = {}
        self._kinds: dict[tuple[str, str], list[int]] = {}
        self._authority: dict[str, RecordedAuthority] = {}
        self.authorizations = AuthorizationMemory()
        self.stats = ReplayStats()

    # -- ingest (hot path) ---------------------------------------------------------------------

    def _kind(self, service: str, event_type: str) -> list[int]:
        """[what the event is to the audit, how many of this type were filed]."""
        key = (service, event_type)
        entry = self._kinds.get(key)
        if entry is None:
            if service == _CONTACTS and event_type in contract.AUTHORIZATION_EVENT_TYPES:
                kind = _AUTHORIZATION
            elif event_type == AUTHORIZATION_CHECKED:
                kind = _CHECK
            elif service == _IDENTITY:
                kind = _OTHER
            else:
                kind = _ACTION
            entry = self._kinds[key] = [kind, 0]
        return entry

    def add(self, event: AuditEvent) -> bool:
        """File one event; False when it is a duplicate of one already filed."""
        by_id = self._by_id
        event_id = event.event_id
        if event_id in by_id:
            self._duplicate(by_id[event_id], event)
            return False
        by_id[event_id] = event
        history = self._customers.get(event.customer_number)
        if history is None:
            history = self._customers[event.customer_number] = CustomerHistory()
        history.events.append(event)
        history._sorted = False
        entry = self._kinds.get((event.service, event.event_type)) or self._kind(event.service, event.event_type)
        entry[1] += 1
        kind = entry[0]
        if kind == _ACTION:
            history.actions.append(event)
        elif kind == _CHECK:
            history.checks.append(event)
        elif kind == _AUTHORIZATION:
            history.actions.append(event)
            history._pending_authorization.append(event)
        elif event.raw_metadata is not None and b"on_behalf_of" in event.raw_metadata:
            history.actions.append(event)  # another service acting for a requester: an action too
        return True

    def _duplicate(self, seen: AuditEvent, event: AuditEvent) -> None:
        self.stats.duplicates += 1
        if (
            seen.raw_data != event.raw_data
            or seen.stream_id != event.stream_id
            or seen.stream_version != event.stream_version
            or seen.occurred_at != event.occurred_at
        ):
            self.stats.conflicting_duplicates.append(event.event_id)

    @property
    def event_count(self) -> int:
        return len(self._by_id)

    def type_counts(self) -> dict[tuple[str, str], int]:
        """Events filed per (service, event type): also the census of types nobody told us about."""
        return {key: entry[1] for key, entry in sorted(self._kinds.items()) if entry[1]}

    def add_all(self, events: Iterable[AuditEvent]) -> int:
        return sum(1 for e in events if self.add(e))

    # -- derived views -------------------------------------------------------------------------

    @property
    def customer_numbers(self) -> list[str]:
        return sorted(self._customers)

    def history(self, customer_number: str) -> CustomerHistory:
        """The customer's history with its authorizations folded (an empty one if unknown)."""
        history = self._customers.get(customer_number)
        if history is None:
            return CustomerHistory()
        pending = history._pending_authorization
        if pending:
            # Per stream in version order: the fold's rule, whatever order partitions came in.
            for event in sorted(pending, key=lambda e: (e.stream_id, e.stream_version)):
                self.authorizations.apply(event.to_recorded())
            pending.clear()
        return history

    def event(self, event_id: str) -> AuditEvent | None:
        return self._by_id.get(event_id)

    def authority(self, event: AuditEvent) -> RecordedAuthority:
        known = self._authority.get(event.event_id)
        if known is None:
            known = self._authority[event.event_id] = classify(event)
        return known

    def events_about(self, obj: str, customer_number: str | None = None) -> list[AuditEvent]:
        """Actions naming an object (a mailbox address, a domain, a host, a grant id, a stream id).

        A scan, not an index: an index of every action's objects took 2-3.5 s and ~1.7 million
        entries to build on a million events (each action's JSON parsed and kept), and every
        refresh threw it away. The scan looks for the name in each action's raw JSON and parses
        only the candidates (`_may_name`): ~0.3 s a question on a million events.
        """
        name = obj.strip().lower()
        needle = name.encode()
        histories: Iterable[CustomerHistory] = self._customers.values()
        if customer_number is not None:
            known = self._customers.get(customer_number)
            histories = [known] if known is not None else []
        found = []
        for history in histories:
            for event in history.actions:
                if _may_name(event, name, needle) and name in objects_of(event):
                    found.append(event)
        return sorted(found, key=_sort_key)

    def events(self) -> Iterator[AuditEvent]:
        return iter(self._by_id.values())

    def materialize(self) -> None:
        """Fold every customer and classify every action now (otherwise done on first use)."""
        with bulk_load():
            for n in self._customers:
                history = self.history(n)
                _ = history.timeline
                for event in history.actions:
                    self.authority(event)

    # -- determinism ---------------------------------------------------------------------------

    def state_hash(self) -> str:
        """SHA-256 over a canonical rendering of the whole model (independent of reading order).

        Per customer (in number order): every event in canonical order with its envelope and the
        canonical JSON of its data and metadata; the authority read from each action; and the
        folded grants, contacts and instruction changes.
        """
        digest = hashlib.sha256()
        for n in self.customer_numbers:
            history = self.history(n)
            digest.update(b"C" + n.encode() + b"\n")
            for e in history.timeline:
                line = (
                    e.event_id,
                    e.service,
                    e.event_type,
                    e.schema_version,
                    e.stream_id,
                    e.stream_version,
                    e.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
                    e.actor,
                    e.correlation_id,
                    e.causation_id,
                    e.data,
                    e.metadata,
                )
                digest.update(orjson.dumps(line, option=orjson.OPT_SORT_KEYS) + b"\n")
            for e in history.actions:
                a = self.authority(e)
                line_a = ("A", e.event_id, a.basis.value, a.on_behalf_of, a.contact_id, a.scope, a.grant_id)
                digest.update(orjson.dumps(line_a) + b"\n")
            digest.update(_folded_state(history.timeline) + b"\n")
        return digest.hexdigest()


def _folded_state(timeline: Iterable[AuditEvent]) -> bytes:
    """A customer's folded authorization state, canonically (grants with revocations, instruction)."""
    events = list(timeline)
    grants = sorted(grants_of(events), key=lambda g: str(g.grant_id))
    rendered = {
        "grants": [
            [
                str(g.grant_id),
                str(g.contact_id),
                list(g.scopes),
                g.valid_from,
                g.valid_until,
                g.granted_at,
                g.granted_by,
                g.basis,
                g.revoked_at,
                g.revoked_by,
                g.revoke_reason,
            ]
            for g in grants
        ],
        "instruction": [[s.in_force, s.document_reference, s.since, s.changed_by] for s in instruction_changes(events)],
    }
    return orjson.dumps(rendered, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)
