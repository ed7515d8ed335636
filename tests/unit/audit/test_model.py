"""The audit model over generated histories: as-of answers, determinism, authorities, checks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.audit import questions
from shared.audit.events import AuditEvent
from shared.audit.model import AuditModel, objects_of
from shared.authorization.memory import AuthorizationMemory
from tests.unit.audit.history import HistoryGenerator, generate

CUSTOMERS = [str(20_000_000 + i) for i in range(40)]


@pytest.fixture(scope="module")
def history() -> HistoryGenerator:
    return generate(7, CUSTOMERS, 3000)


def audit_events(history: HistoryGenerator) -> list[AuditEvent]:
    return [
        AuditEvent.from_recorded(service, e, topic=f"{service}.events", partition=int(e.customer_number) % 3, offset=i)
        for i, (service, e) in enumerate(history.recorded)
    ]


def model_of(events: list[AuditEvent]) -> AuditModel:
    model = AuditModel()
    model.add_all(events)
    return model


def test_as_of_answers_equal_the_shared_fold_fed_in_order(history: HistoryGenerator) -> None:
    model = model_of(audit_events(history))
    reference = AuthorizationMemory().apply_all(e for s, e in history.recorded if s == "contacts")
    rng = random.Random(3)
    instants = [e.occurred_at + delta for _, e in history.recorded for delta in (timedelta(0), timedelta(seconds=-1))]
    for _ in range(400):
        n = rng.choice(CUSTOMERS)
        at = rng.choice(instants)
        ours = questions.authorizations_as_of(model, n, at)
        theirs = reference.authorizations_at(n, at)
        assert ours.official_instruction.in_force == theirs.instruction.in_force
        assert ours.official_instruction.document_reference == theirs.instruction.document_reference
        assert [(h.contact_id, tuple(h.scopes), [g.grant_id for g in h.grants]) for h in ours.holders] == [
            (h.contact_id, h.scopes, [g.grant_id for g in h.grants]) for h in theirs.holders
        ]


def test_the_state_hash_does_not_depend_on_reading_order_or_duplicates(history: HistoryGenerator) -> None:
    events = audit_events(history)
    expected = model_of(events).state_hash()
    shuffled = list(events)
    random.Random(1).shuffle(shuffled)
    duplicates = random.Random(2).sample(events, len(events) // 10)
    model = model_of(shuffled + duplicates)
    assert model.stats.duplicates == len(duplicates)
    assert model.stats.conflicting_duplicates == []
    assert model.state_hash() == expected
    assert model_of(events[:-1]).state_hash() != expected


def test_a_reused_event_id_with_other_content_is_reported(history: HistoryGenerator) -> None:
    events = audit_events(history)
    model = model_of(events)
    original = events[10]
    forged = AuditEvent.from_recorded(original.service, original.to_recorded(), topic="copy")
    forged.raw_data = b'{"forged": true}'
    assert not model.add(forged)
    assert model.stats.conflicting_duplicates == [original.event_id]


def test_every_recorded_support_decision_agrees_with_the_replay(history: HistoryGenerator) -> None:
    """With the contacts events as of the action, or (billing, whose generated copy now and then
    lags one or two events) with those its copy had applied, as it recorded."""
    model = model_of(audit_events(history))
    compared = lagged = 0
    bases: set[str] = set()
    for n in CUSTOMERS:
        for event in model.history(n).actions:
            answer = questions.answer_authority(model, event)
            bases.add(answer.basis)
            if event.service in ("billing", "domains") and answer.basis not in ("account_owner", "unknown"):
                assert answer.agrees_with_copy is True, (event, answer.discrepancy)
                assert answer.copy_replayed is not None
            if answer.agrees is not None:
                compared += 1
                if not answer.agrees:
                    lagged += 1
                    assert answer.agrees_with_copy is True, (event, answer.discrepancy)
                    assert answer.discrepancy is not None
                    assert "its copy lagged" in answer.discrepancy
            if answer.basis == "grant":
                assert answer.grant is not None, event
                assert answer.grant.granted_at <= event.occurred_at
    assert compared > 300
    assert lagged > 5  # the generated lag shows, and is explained
    assert {"grant", "best_knowledge", "refused", "account_owner", "written_instruction"} <= bases


def test_best_knowledge_actions_are_the_ones_recorded_as_such(history: HistoryGenerator) -> None:
    model = model_of(audit_events(history))
    found = questions.best_knowledge_actions(model)
    expected = {
        str(e.event_id)
        for s, e in history.recorded
        if s in ("billing", "domains")
        and (e.metadata.get("basis") == "best_knowledge" or e.metadata.get("authorization") == "best_knowledge")
    }
    assert expected
    assert {a.event.event_id for a in found} == expected
    # Replayed on what the service decided on: billing's copy as it recorded it, else contacts as of then.
    decided_on = [a.copy_replayed or a.replayed for a in found]
    assert all(a.grant is None for a in found)
    assert all(d is not None and d.outcome == "best_knowledge" for d in decided_on)


def test_checks_before_acting_name_the_requester_and_scope(history: HistoryGenerator) -> None:
    model = model_of(audit_events(history))
    with_checks = 0
    for n in CUSTOMERS:
        for event in model.history(n).actions:
            answer = questions.answer_authority(model, event)
            for check in answer.checks_before:
                with_checks += 1
                assert check.checked_at <= event.occurred_at
                assert check.action == answer.scope
                assert check.contact_id == answer.contact_id or (
                    f"{check.requester_kind}:{check.requester_normalised}" == answer.on_behalf_of
                )
    assert with_checks > 50


def test_timeline_is_in_canonical_order_and_complete(history: HistoryGenerator) -> None:
    model = model_of(list(reversed(audit_events(history))))
    n = CUSTOMERS[0]
    entries = questions.timeline(model, n)
    assert len(entries) == sum(1 for _, e in history.recorded if e.customer_number == n)
    keys = [(e.at, e.event.stream_id, e.event.stream_version) for e in entries]
    assert keys == sorted(keys)
    changes = questions.authorization_changes(model, n)
    assert changes
    assert all(c.service == "contacts" and c.event_type != "AuthorizationChecked" for c in changes)


def test_actions_are_found_by_object(history: HistoryGenerator) -> None:
    model = model_of(audit_events(history))
    mailbox = next(e for s, e in history.recorded if e.event_type == "MailboxCreated")
    answers = questions.authority_of_object(model, mailbox.data["address"].upper())
    assert [a.event.event_id for a in answers] == [str(mailbox.event_id)]
    assert answers[0].basis in ("grant", "best_knowledge")
    domain = questions.authority_of_object(model, mailbox.data["domain"])
    assert len(domain) > 1
    assert domain[0].event.event_type == "DomainRegistered"
    assert domain[0].basis == "account_owner"


def _action(n: int, raw_data: bytes) -> AuditEvent:
    return AuditEvent(
        f"00000000-0000-4000-8000-{n:012d}", "domains", "MailboxCreated", 1, f"mailbox-{n}", 1, "20000999",
        datetime(2026, 1, 1, tzinfo=UTC), "customer:20000999", f"00000000-0000-4000-9000-{n:012d}", None,
        raw_data, None,
    )  # fmt: skip


def test_the_object_search_finds_exactly_what_the_objects_name(history: HistoryGenerator) -> None:
    """The raw-byte search skips an action only when none of its objects can be the name asked for:
    checked against every object of every action, and on JSON that is not plain ASCII."""
    odd = [
        _action(1, '{"address": "BÜRO@Beispiel.de"}'.encode()),  # non-ASCII upper case
        _action(2, b'{"address": "b\\u00fcro@beispiel.de"}'),  # an escaped character
        _action(3, '{"address": "\u212aunde@beispiel.de"}'.encode()),  # KELVIN SIGN lower-cases to k
        _action(4, b'{"address": "info\\/x@beispiel.de"}'),  # an escaped solidus
    ]
    model = model_of(audit_events(history) + odd)
    assert [e.event_id for e in model.events_about("büro@beispiel.de")] == [odd[0].event_id, odd[1].event_id]
    assert [e.event_id for e in model.events_about("KUNDE@beispiel.de")] == [odd[2].event_id]
    assert [e.event_id for e in model.events_about("info/x@beispiel.de")] == [odd[3].event_id]
    actions = [e for n in model.customer_numbers for e in model.history(n).actions]
    names = sorted({name for e in actions for name in objects_of(e)})
    rng = random.Random(5)
    for name in [*rng.sample(names, 200), "nothing@nowhere.example"]:
        expected = sorted((e for e in actions if name in objects_of(e)), key=lambda e: e.sort_key)
        assert model.events_about(name.upper()) == expected, name
    some = odd[0]
    assert model.events_about("büro@beispiel.de", customer_number="20000999") == [some, odd[1]]
    assert model.events_about("büro@beispiel.de", customer_number=CUSTOMERS[0]) == []
