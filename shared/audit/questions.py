"""The questions compliance asks of the replayed history, answered from the audit model alone.

    authorizations_as_of(model, n, at)      who held which scopes for customer n at instant `at`
    timeline(model, n, ...)                 every event of the customer, in canonical order
    authorization_changes(model, n)         every change of n's authorizations, with decider and basis
    authority_of_event(model, event_id)     on whose authority an action was done
    authority_of_object(model, "m@x.de")    ... for every action on an object
    checks(model, n, ...)                   the checks support made for n
    best_knowledge_actions(model, ...)      every action done to best knowledge rather than on a grant

"On whose authority" does not stop at what the service recorded: the audit replays the decision
with the shared rules (`shared.authorization.decide`) over its own fold of `contacts.events` as of
the moment of the action, says whether it agrees, and lists the checks support made for that
requester and scope before acting. Answers are plain frozen dataclasses (JSON via orjson, or as
FastAPI response models).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.audit.authority import Basis, RecordedAuthority
from shared.audit.events import AuditEvent
from shared.audit.facts import contact_names, grant_by_id
from shared.audit.model import AuditModel
from shared.authorization import contract
from shared.authorization.decision import Decision, decide
from shared.authorization.identifiers import Requester, RequesterKind
from shared.authorization.memory import AuthorizationMemory
from shared.authorization.model import AuthorizationsAt, GrantRecord, InstructionState
from shared.errors import InvalidRequest

DEFAULT_LOOKBACK = timedelta(days=1)  # how long before an action a check still counts as "before acting"
_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class EventRef:
    """Provenance: which event, when, by whom, and where it was read."""

    event_id: str
    service: str
    event_type: str
    stream_id: str
    stream_version: int
    occurred_at: datetime
    actor: str
    source: str  # <topic>/<partition>@<offset>
    correlation_id: str


@dataclass(frozen=True, slots=True)
class GrantOut:
    grant_id: uuid.UUID
    contact_id: uuid.UUID
    scopes: list[str]
    valid_from: datetime
    valid_until: datetime | None
    granted_at: datetime
    granted_by: str
    basis: str
    note: str | None
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None


@dataclass(frozen=True, slots=True)
class InstructionOut:
    in_force: bool
    document_reference: str | None
    since: datetime | None
    changed_by: str | None


@dataclass(frozen=True, slots=True)
class HolderOut:
    contact_id: uuid.UUID
    scopes: list[str]
    grants: list[GrantOut]


@dataclass(frozen=True, slots=True)
class AuthorizationsAsOf:
    """The same shape as contacts' `GET /customers/{n}/authorizations?at=` answer."""

    customer_number: str
    at: datetime
    official_instruction: InstructionOut
    holders: list[HolderOut]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    service: str
    event_type: str
    summary: str
    actor: str
    basis: str | None  # for actions: on what authority (grant, best_knowledge, ...)
    on_behalf_of: str | None
    grant_id: str | None
    event: EventRef


@dataclass(frozen=True, slots=True)
class CheckOut:
    check_id: str | None
    checked_at: datetime  # when support checked
    asked_about: datetime | None  # the instant the check was about
    agent: str | None
    requester_kind: str | None
    requester: str | None
    requester_normalised: str | None
    contact_id: str | None
    action: str | None
    outcome: str | None
    reasons: list[str]
    grant_id: str | None
    ticket_reference: str | None
    event: EventRef
    # The same question asked of the replayed history (as of the instant asked about), and whether
    # its outcome is the one recorded: a check that told support "allowed" after a revocation
    # shows here as a disagreement.
    replayed: ReplayedDecision | None = None
    agrees: bool | None = None


@dataclass(frozen=True, slots=True)
class ReplayedDecision:
    at: datetime
    outcome: str
    grant_id: str | None
    reasons: list[str]
    messages: list[str]


@dataclass(frozen=True, slots=True)
class AuthorityAnswer:
    event: EventRef
    customer_number: str
    summary: str
    basis: str  # grant | best_knowledge | refused | account_owner | written_instruction | staff | system | unknown
    acting: str | None
    on_behalf_of: str | None
    contact_id: str | None
    contact_name: str | None
    scope: str | None
    grant: GrantOut | None  # the grant relied on (recorded, or implied and found by the replay)
    grant_source: str | None  # recorded | replayed
    recorded_outcome: str | None
    recorded_reasons: list[str]
    replayed: ReplayedDecision | None  # the shared rules over the replayed authorizations, as of then
    agrees: bool | None  # whether the replay reaches the recorded outcome (None: nothing to compare)
    # The same rules over contacts' stream only up to the version the acting service's copy had
    # applied when it decided (where it recorded one: billing): what the service could know.
    copy_replayed: ReplayedDecision | None
    agrees_with_copy: bool | None
    discrepancy: str | None
    checks_before: list[CheckOut]
    explanation: str


# -- building blocks ------------------------------------------------------------------------------


def event_ref(event: AuditEvent) -> EventRef:
    return EventRef(
        event.event_id,
        event.service,
        event.event_type,
        event.stream_id,
        event.stream_version,
        event.occurred_at,
        event.actor,
        event.provenance,
        event.correlation_id,
    )


def grant_out(g: GrantRecord) -> GrantOut:
    return GrantOut(
        g.grant_id,
        g.contact_id,
        list(g.scopes),
        g.valid_from,
        g.valid_until,
        g.granted_at,
        g.granted_by,
        g.basis,
        g.note,
        g.revoked_at,
        g.revoked_by,
        g.revoke_reason,
    )


def instruction_out(state: InstructionState) -> InstructionOut:
    return InstructionOut(state.in_force, state.document_reference, state.since, state.changed_by)


def _instant(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def summarize(event: AuditEvent) -> str:
    """One human line about an event; generic for types this module has never heard of."""
    d = event.data
    t = event.event_type
    if t == contract.CONTACT_AUTHORIZED:
        until = f" until {d.get('valid_until')}" if d.get("valid_until") else ""
        return (
            f"contact {d.get('contact_id')} granted {', '.join(map(str, d.get('scopes') or []))}"
            f" from {d.get('valid_from')}{until} by {d.get('granted_by')} ({d.get('basis')}); grant {d.get('grant_id')}"
        )
    if t == contract.CONTACT_AUTHORIZATION_REVOKED:
        return (
            f"grant {d.get('grant_id')} of contact {d.get('contact_id')} revoked by {d.get('revoked_by')}:"
            f" {d.get('reason')}"
        )
    if t in (contract.CONTACT_ADDED, contract.CONTACT_DETAILS_CHANGED):
        return f"contact {d.get('contact_id')}: {d.get('name')} <{d.get('email')}>"
    if t == contract.CONTACT_REMOVED:
        return f"contact {d.get('contact_id')} removed by {d.get('removed_by')} ({d.get('reason')})"
    if t == contract.OFFICIAL_INSTRUCTION_ISSUED:
        return f"official instruction {d.get('document_reference')} in force, issued by {d.get('issued_by')}"
    if t == contract.OFFICIAL_INSTRUCTION_WITHDRAWN:
        return f"official instruction {d.get('document_reference')} withdrawn by {d.get('withdrawn_by')}"
    if t == "AuthorizationChecked":
        return (
            f"{d.get('agent')} checked {d.get('requester_kind')}:{d.get('requester_normalised')} for {d.get('action')}"
            f" -> {d.get('outcome')} ({', '.join(map(str, d.get('reasons') or []))})"
        )
    named = [f"{k}={d[k]}" for k in ("domain", "vhost", "address", "source_host", "target_url", "email") if d.get(k)]
    if t.endswith("Refused"):
        named = [f"operation={d.get('operation')}", f"action={d.get('action')}", *named]
    return f"{t}" + (f": {', '.join(named)}" if named else "")


def _replay_check(model: AuditModel, event: AuditEvent) -> Decision | None:
    d = event.data
    kind, heard, action = d.get("requester_kind"), d.get("requester_normalised"), d.get("action")
    if not (kind and heard and action):
        return None
    try:
        requester = Requester(RequesterKind(kind), str(heard))
    except ValueError:
        return None
    at = _instant(d.get("at")) or event.occurred_at
    return decide(model.authorizations.view(event.customer_number, requester, at), str(action), at)


def check_out(model: AuditModel, event: AuditEvent) -> CheckOut:
    """A recorded check, and its question replayed (the customer's history must be folded)."""
    d = event.data
    replayed = _replay_check(model, event)
    return CheckOut(
        check_id=_str(d.get("check_id")),
        checked_at=event.occurred_at,
        asked_about=_instant(d.get("at")),
        agent=_str(d.get("agent")),
        requester_kind=_str(d.get("requester_kind")),
        requester=_str(d.get("requester")),
        requester_normalised=_str(d.get("requester_normalised")),
        contact_id=_str(d.get("contact_id")),
        action=_str(d.get("action")),
        outcome=_str(d.get("outcome")),
        reasons=[str(r) for r in d.get("reasons") or ()],
        grant_id=_str(d.get("grant_id")),
        ticket_reference=_str(d.get("ticket_reference")),
        event=event_ref(event),
        replayed=_replayed_out(replayed),
        agrees=None if replayed is None or d.get("outcome") is None else replayed.outcome.value == d.get("outcome"),
    )


# -- the questions --------------------------------------------------------------------------------


def authorizations_as_of(model: AuditModel, customer_number: str, at: datetime) -> AuthorizationsAsOf:
    model.history(customer_number)  # folds the customer's authorization events
    state: AuthorizationsAt = model.authorizations.authorizations_at(customer_number, at)
    return AuthorizationsAsOf(
        customer_number=customer_number,
        at=at,
        official_instruction=instruction_out(state.instruction),
        holders=[HolderOut(h.contact_id, list(h.scopes), [grant_out(g) for g in h.grants]) for h in state.holders],
    )


def _within(event: AuditEvent, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or event.occurred_at >= since) and (until is None or event.occurred_at <= until)


def timeline(
    model: AuditModel,
    customer_number: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    services: Sequence[str] = (),
    limit: int | None = None,
    after: str | None = None,
) -> list[TimelineEntry]:
    """In timeline order; `after`: only the entries after that event's (the last of a page, whose
    instant others may share), `limit`: at most that many (a page: ask for `limit + 1` to learn
    whether another follows)."""
    history = model.history(customer_number)
    actions = {e.event_id for e in history.actions}
    out: list[TimelineEntry] = []
    events = iter(history.timeline)
    if after is not None:
        for event in events:
            if event.event_id == after:
                break
        else:
            raise InvalidRequest(f"after: no event {after} in the customer's timeline")
    for event in events:
        if not _within(event, since, until) or (services and event.service not in services):
            continue
        authority = model.authority(event) if event.event_id in actions else None
        out.append(
            TimelineEntry(
                at=event.occurred_at,
                service=event.service,
                event_type=event.event_type,
                summary=summarize(event),
                actor=event.actor,
                basis=authority.basis.value if authority else None,
                on_behalf_of=authority.on_behalf_of if authority else None,
                grant_id=authority.grant_id if authority else None,
                event=event_ref(event),
            )
        )
        if limit is not None and len(out) >= limit:
            break
    return out


def authorization_changes(model: AuditModel, customer_number: str) -> list[TimelineEntry]:
    entries = timeline(model, customer_number, services=("contacts",))
    return [e for e in entries if e.event_type in contract.AUTHORIZATION_EVENT_TYPES]


def checks(
    model: AuditModel, customer_number: str, *, since: datetime | None = None, until: datetime | None = None
) -> list[CheckOut]:
    history = model.history(customer_number)
    _ = history.timeline  # sorts the checks too
    return [check_out(model, e) for e in history.checks if _within(e, since, until)]


def _decision_instant(event: AuditEvent, authority: RecordedAuthority) -> datetime:
    decided = _instant(authority.decided_at)
    if decided is not None:
        return decided
    if authority.implied:
        # Contacts decides on the state *before* the command's own events (a contact may revoke
        # its own grant): the instant just before they were recorded.
        return event.occurred_at - _ONE_MICROSECOND
    return event.occurred_at


def _replay_decision(model: AuditModel, event: AuditEvent, authority: RecordedAuthority) -> Decision | None:
    requester = authority.requester
    if requester is None or authority.scope is None:
        return None
    at = _decision_instant(event, authority)
    view = model.authorizations.view(event.customer_number, requester, at)
    return decide(view, authority.scope, at)


def _replay_on_copy(model: AuditModel, event: AuditEvent, authority: RecordedAuthority) -> Decision | None:
    """The decision over contacts' stream up to the version the service's copy had applied."""
    requester = authority.requester
    if authority.copy_version is None or requester is None or authority.scope is None:
        return None
    stream_id, upto = authority.copy_version
    changes = model.history(event.customer_number).authorization_changes()
    copy = AuthorizationMemory()
    for change in sorted((e for e in changes if e.stream_id == stream_id), key=lambda e: e.stream_version):
        if change.stream_version > upto:
            break
        copy.apply(change.to_recorded())
    at = _decision_instant(event, authority)
    return decide(copy.view(event.customer_number, requester, at), authority.scope, at)


def _agrees(replayed: Decision | None, authority: RecordedAuthority) -> bool | None:
    """Whether a replayed decision reaches the recorded outcome (and grant, where both name one)."""
    if replayed is None or authority.recorded_outcome is None:
        return None
    if replayed.outcome.value != authority.recorded_outcome:
        return False
    return authority.grant_id is None or replayed.grant_id is None or str(replayed.grant_id) == authority.grant_id


def _replayed_out(decision: Decision | None) -> ReplayedDecision | None:
    if decision is None:
        return None
    return ReplayedDecision(
        decision.at,
        decision.outcome.value,
        str(decision.grant_id) if decision.grant_id else None,
        list(decision.codes),
        [r.message for r in decision.reasons],
    )


def _matches_requester(check: CheckOut, authority: RecordedAuthority) -> bool:
    if authority.contact_id and check.contact_id == authority.contact_id:
        return True
    if authority.on_behalf_of is None:
        return False
    kind, _, value = authority.on_behalf_of.partition(":")
    return check.requester_kind == kind and check.requester_normalised == value


def checks_before(
    model: AuditModel, event: AuditEvent, authority: RecordedAuthority, lookback: timedelta = DEFAULT_LOOKBACK
) -> list[CheckOut]:
    """Checks support made for this requester (and scope) before the action, within `lookback`."""
    if authority.on_behalf_of is None and authority.contact_id is None:
        return []
    history = model.history(event.customer_number)
    _ = history.timeline
    earliest = event.occurred_at - lookback
    found = []
    for candidate in history.checks:
        if candidate.occurred_at > event.occurred_at:
            break
        if candidate.occurred_at < earliest:
            continue
        check = check_out(model, candidate)
        if _matches_requester(check, authority) and (authority.scope is None or check.action == authority.scope):
            found.append(check)
    return found


def _explain(event: AuditEvent, a: RecordedAuthority, grant: GrantRecord | None, who: str | None) -> str:
    requester = who or a.on_behalf_of or "an unnamed requester"
    doer = event.actor
    if a.basis is Basis.GRANT:
        via = (
            f"grant {grant.grant_id} ({', '.join(grant.scopes)}; granted by {grant.granted_by} on"
            f" {grant.granted_at.date().isoformat()}, basis {grant.basis})"
            if grant is not None
            else f"grant {a.grant_id or '(not found in the replay)'}"
        )
        return f"{doer} acted on behalf of {requester} for {a.scope}, relying on {via}."
    if a.basis is Basis.BEST_KNOWLEDGE:
        return (
            f"{doer} acted on behalf of {requester} for {a.scope} to best knowledge: no grant covered it and no"
            f" official instruction was in force ({', '.join(a.reasons) or 'no reasons recorded'})."
        )
    if a.basis is Basis.REFUSED:
        return f"{doer} asked on behalf of {requester} for {a.scope}; refused ({', '.join(a.reasons)})."
    if a.basis is Basis.ACCOUNT_OWNER:
        return f"The account owner ({doer}) did this itself."
    if a.basis is Basis.WRITTEN_INSTRUCTION:
        return f"Support ({doer}) acted on the account owner's written instruction."
    if a.basis is Basis.STAFF:
        return f"Staff ({doer}) acted without a requester."
    if a.basis is Basis.SYSTEM:
        return "The system did this on its own."
    return f"Recorded by {doer}; the event names no authority the audit can read."


def _copy_explanation(authority: RecordedAuthority, agrees_with_copy: bool | None) -> str:
    if authority.copy_version is None or agrees_with_copy is None:
        return "The service decided on its own copy of contacts.events, which may have lagged behind."
    stream_id, version = authority.copy_version
    had = f"{stream_id} up to version {version}" if version else "nothing of the customer"
    if agrees_with_copy:
        return (
            f"The service's copy had applied {had}, and on that it decided by the rules: contacts'"
            " later change had not reached it yet (its copy lagged)."
        )
    return f"Even on its copy as recorded ({had}) the rules say otherwise: the service did not decide by them."


def answer_authority(model: AuditModel, event: AuditEvent, lookback: timedelta = DEFAULT_LOOKBACK) -> AuthorityAnswer:
    history = model.history(event.customer_number)
    authority = model.authority(event)
    replayed = _replay_decision(model, event, authority)
    grant: GrantRecord | None = None
    grant_source = None
    if authority.grant_id is not None:
        grant = grant_by_id(history.timeline, authority.grant_id)
        grant_source = "recorded"
    elif authority.basis is Basis.GRANT and replayed is not None and replayed.grant_id is not None:
        grant = grant_by_id(history.timeline, str(replayed.grant_id))
        grant_source = "replayed"
    agrees = _agrees(replayed, authority)
    on_copy = _replay_on_copy(model, event, authority)
    agrees_with_copy = _agrees(on_copy, authority)
    discrepancy = None
    if replayed is not None and agrees is False:
        discrepancy = (
            f"recorded {authority.recorded_outcome}"
            + (f" on grant {authority.grant_id}" if authority.grant_id else "")
            + f"; the replay as of {replayed.at.isoformat()} says {replayed.outcome.value}"
            + (f" on grant {replayed.grant_id}" if replayed.grant_id else "")
            + f" ({', '.join(replayed.codes)}). "
            + _copy_explanation(authority, agrees_with_copy)
        )
    names = contact_names(history.timeline)
    contact = names.get(authority.contact_id) if authority.contact_id else None
    who = f"{contact.name} <{contact.email}>" if contact is not None else None
    return AuthorityAnswer(
        event=event_ref(event),
        customer_number=event.customer_number,
        summary=summarize(event),
        basis=authority.basis.value,
        acting=authority.acting,
        on_behalf_of=authority.on_behalf_of,
        contact_id=authority.contact_id,
        contact_name=who,
        scope=authority.scope,
        grant=grant_out(grant) if grant is not None else None,
        grant_source=grant_source,
        recorded_outcome=authority.recorded_outcome,
        recorded_reasons=list(authority.reasons),
        replayed=_replayed_out(replayed),
        agrees=agrees,
        copy_replayed=_replayed_out(on_copy),
        agrees_with_copy=agrees_with_copy,
        discrepancy=discrepancy,
        checks_before=checks_before(model, event, authority, lookback),
        explanation=_explain(event, authority, grant, who),
    )


def authority_of_event(
    model: AuditModel, event_id: str, lookback: timedelta = DEFAULT_LOOKBACK
) -> AuthorityAnswer | None:
    event = model.event(event_id)
    return answer_authority(model, event, lookback) if event is not None else None


def authority_of_object(
    model: AuditModel, obj: str, *, customer_number: str | None = None, lookback: timedelta = DEFAULT_LOOKBACK
) -> list[AuthorityAnswer]:
    return [answer_authority(model, e, lookback) for e in model.events_about(obj, customer_number)]


def _actions(model: AuditModel, customer_number: str | None) -> Iterable[AuditEvent]:
    numbers = [customer_number] if customer_number is not None else model.customer_numbers
    for n in numbers:
        yield from model.history(n).actions


def best_knowledge_actions(
    model: AuditModel,
    *,
    customer_number: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> list[AuthorityAnswer]:
    """Every action done to best knowledge rather than on a grant (the recorded basis says so)."""
    found = [
        e
        for e in _actions(model, customer_number)
        if _within(e, since, until) and model.authority(e).basis is Basis.BEST_KNOWLEDGE
    ]
    found.sort(key=lambda e: (e.customer_number, *e.sort_key))
    return [answer_authority(model, e, lookback) for e in found]
