"""Support's recorded checks, asked again of the replayed history: each agrees, or says it does not."""

from __future__ import annotations

import dataclasses
from collections import Counter

from shared.audit import questions
from shared.audit.events import AuditEvent
from shared.audit.model import AuditModel
from shared.envelope import RecordedEvent
from tests.unit.audit.history import generate

CUSTOMERS = [str(31_000_000 + i) for i in range(6)]


def _model(recorded: list[tuple[str, RecordedEvent]]) -> AuditModel:
    model = AuditModel()
    model.add_all(AuditEvent.from_recorded(s, e, topic=f"{s}.events", offset=i) for i, (s, e) in enumerate(recorded))
    return model


def test_every_recorded_check_agrees_with_the_replay_and_a_falsified_one_does_not() -> None:
    history = generate(17, CUSTOMERS, 800)
    checks = {n: questions.checks(_model(list(history.recorded)), n) for n in CUSTOMERS}
    replayed = [c for found in checks.values() for c in found]
    assert len(replayed) > 20
    assert all(c.agrees is True for c in replayed), [c for c in replayed if not c.agrees][:1]
    assert Counter(c.replayed.outcome for c in replayed if c.replayed).keys() >= {"allowed", "denied"}

    # The recorded outcome of one "allowed" check turned into "denied": the replay disagrees.
    target = next(c for c in replayed if c.outcome == "allowed")
    falsified = [
        (
            s,
            dataclasses.replace(e, data={**e.data, "outcome": "denied"})
            if str(e.event_id) == target.event.event_id
            else e,
        )
        for s, e in history.recorded
    ]
    n = next(n for n, found in checks.items() if target in found)
    [again] = [c for c in questions.checks(_model(falsified), n) if c.event.event_id == target.event.event_id]
    assert (again.outcome, again.agrees, again.replayed and again.replayed.outcome) == ("denied", False, "allowed")
