"""Exports: CSV parses back to the same facts, JSON holds the same rows, the report reads."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson

from shared.audit import questions
from shared.audit.events import AuditEvent
from shared.audit.export import ReplaySource, customer_export, read_csv, to_csv, to_json, to_markdown
from shared.audit.model import AuditModel
from tests.unit.audit.history import generate

CUSTOMERS = [str(30_000_000 + i) for i in range(6)]


def test_csv_round_trip_json_and_report() -> None:
    history = generate(11, CUSTOMERS, 600)
    model = AuditModel()
    model.add_all(
        AuditEvent.from_recorded(s, e, topic=f"{s}.events", offset=i) for i, (s, e) in enumerate(history.recorded)
    )
    n = Counter(e.customer_number for _, e in history.recorded).most_common(1)[0][0]
    source = ReplaySource(["contacts.events"], {"contacts.events/0": 10}, model.state_hash())
    export = customer_export(model, n, datetime(2027, 1, 1, tzinfo=UTC), source)

    rows = read_csv(to_csv(export))
    assert rows == export.rows
    # Instants in UTC written as the JSON writes them.
    first = to_csv(export).splitlines()[1]
    assert export.rows[0].occurred_at.isoformat().replace("+00:00", "Z") in first
    timeline = questions.timeline(model, n)
    assert [(r.event_id, r.occurred_at, r.event_type, r.actor, r.basis or None) for r in rows] == [
        (t.event.event_id, t.at, t.event_type, t.actor, t.basis) for t in timeline
    ]
    assert all(r.source.startswith(f"{r.service}.events/") for r in rows)
    by_id = {str(e.event_id): e for _, e in history.recorded}
    assert all(orjson.loads(r.data) == by_id[r.event_id].data for r in rows)
    assert {r.basis for r in rows if r.service != "identity"} >= {"grant", "account_owner"}

    parsed = orjson.loads(to_json(export))
    assert [r["event_id"] for r in parsed["rows"]] == [r.event_id for r in rows]
    assert parsed["source"]["state_hash"] == source.state_hash
    assert len(parsed["actions"]) == len(export.actions)
    assert len(parsed["checks"]) == len(export.checks)

    report = to_markdown(export)
    for heading in (
        "# Authorization history",
        "## Authorizations as of",
        "## Actions and the authority",
        "## Checks made",
    ):
        assert heading in report
    assert all(r.event_id in report for r in rows if r.service == "contacts")

    # A check's row and report line say what it checked, what it found, and for which instant.
    assert export.checks
    by_event = {r.event_id: r for r in rows}
    for c in export.checks:
        row = by_event[c.event.event_id]
        assert (row.scope, row.contact_id, row.recorded_outcome) == (c.action, c.contact_id or "", c.outcome)
        asked = (c.asked_about or c.checked_at).isoformat()
        assert f"| {c.checked_at.isoformat()} | {asked} | {c.agent} |" in report


def test_a_foreign_csv_is_refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="unexpected columns"):
        read_csv("a,b\n1,2\n")
