"""A customer's history for an audit file: CSV, JSON and a human-readable Markdown report.

Every row carries its provenance: the event id, when it happened, who recorded it, on what basis
(for actions: the grant relied on, or best knowledge, or the refusal), where it was read
(`<topic>/<partition>@<offset>`) and the correlation id that ties it to the request. The CSV and
the JSON hold the same rows; `read_csv` parses a CSV back into them (tests check the round trip).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.audit.model import AuditModel
from shared.audit.questions import (
    AuthorityAnswer,
    AuthorizationsAsOf,
    CheckOut,
    answer_authority,
    authorizations_as_of,
    checks,
    summarize,
)

CSV_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z


@dataclass(frozen=True, slots=True)
class ExportRow:
    occurred_at: datetime
    event_id: str
    service: str
    event_type: str
    stream_id: str
    stream_version: int
    actor: str
    basis: str  # for actions: grant | best_knowledge | refused | account_owner | ...; else empty
    on_behalf_of: str
    contact_id: str
    scope: str
    grant_id: str
    grant_source: str  # recorded | replayed
    recorded_outcome: str
    replayed_outcome: str
    agrees: str  # yes | no | empty
    summary: str
    source: str  # <topic>/<partition>@<offset>
    correlation_id: str
    data: str  # canonical JSON of the event's data
    metadata: str  # canonical JSON of the event's metadata


@dataclass(frozen=True, slots=True)
class ReplaySource:
    topics: list[str]
    end_offsets: dict[str, int]
    state_hash: str | None


@dataclass(frozen=True, slots=True)
class CustomerExport:
    customer_number: str
    generated_at: datetime
    source: ReplaySource
    authorizations: AuthorizationsAsOf  # as of the last event (or generated_at)
    rows: list[ExportRow]
    actions: list[AuthorityAnswer]
    checks: list[CheckOut]


def _json(value: Any) -> str:
    return orjson.dumps(value, option=CSV_JSON_OPTIONS).decode()


def customer_export(
    model: AuditModel, customer_number: str, generated_at: datetime, source: ReplaySource
) -> CustomerExport:
    history = model.history(customer_number)
    answers = {e.event_id: answer_authority(model, e) for e in history.actions}
    support_checks = checks(model, customer_number)
    checked = {c.event.event_id: c for c in support_checks}
    rows = []
    for event in history.timeline:
        a = answers.get(event.event_id)
        c = checked.get(event.event_id)  # a support check's row names what it checked and found
        rows.append(
            ExportRow(
                occurred_at=event.occurred_at,
                event_id=event.event_id,
                service=event.service,
                event_type=event.event_type,
                stream_id=event.stream_id,
                stream_version=event.stream_version,
                actor=event.actor,
                basis=a.basis if a else "",
                on_behalf_of=(a.on_behalf_of or "") if a else "",
                contact_id=(a.contact_id or "") if a else (c.contact_id or "") if c else "",
                scope=(a.scope or "") if a else (c.action or "") if c else "",
                grant_id=str(a.grant.grant_id) if a and a.grant else (c.grant_id or "") if c else "",
                grant_source=(a.grant_source or "") if a else "",
                recorded_outcome=(a.recorded_outcome or "") if a else (c.outcome or "") if c else "",
                replayed_outcome=a.replayed.outcome if a and a.replayed else "",
                agrees="" if a is None or a.agrees is None else ("yes" if a.agrees else "no"),
                summary=summarize(event),
                source=event.provenance,
                correlation_id=event.correlation_id,
                data=_json(event.data),
                metadata=_json(event.metadata),
            )
        )
    last = history.timeline[-1].occurred_at if history.timeline else generated_at
    return CustomerExport(
        customer_number=customer_number,
        generated_at=generated_at,
        source=source,
        authorizations=authorizations_as_of(model, customer_number, last),
        rows=rows,
        actions=list(answers.values()),
        checks=support_checks,
    )


# -- CSV ------------------------------------------------------------------------------------------

COLUMNS = [f.name for f in fields(ExportRow)]


def to_csv(export: CustomerExport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in export.rows:
        values = asdict(row)
        values["occurred_at"] = row.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z")  # as the JSON
        writer.writerow([values[c] for c in COLUMNS])
    return out.getvalue()


def read_csv(text: str) -> list[ExportRow]:
    """The rows of a CSV written by `to_csv` (raises ValueError on a foreign layout)."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames != COLUMNS:
        raise ValueError(f"unexpected columns: {reader.fieldnames}")
    rows = []
    for raw in reader:
        values: dict[str, Any] = dict(raw)
        values["occurred_at"] = datetime.fromisoformat(raw["occurred_at"])
        values["stream_version"] = int(raw["stream_version"])
        rows.append(ExportRow(**values))
    return rows


# -- JSON -----------------------------------------------------------------------------------------


def to_json(export: CustomerExport) -> bytes:
    return orjson.dumps(export, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z)


# -- Markdown -------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def to_markdown(export: CustomerExport) -> str:
    n = export.customer_number
    rows = export.rows
    bases = Counter(a.basis for a in export.actions)
    lines = [
        f"# Authorization history of customer {n}",
        "",
        f"Generated {export.generated_at.isoformat()} from a replay of {', '.join(export.source.topics)}"
        f" up to the end offsets {', '.join(f'{k}: {v}' for k, v in sorted(export.source.end_offsets.items()))}.",
        f"State hash of the replayed model: `{export.source.state_hash or 'not computed'}`.",
        "",
        f"{len(rows)} events; {len(export.actions)} actions"
        + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(bases.items()))})" if bases else "")
        + f"; {len(export.checks)} checks.",
        "",
        f"## Authorizations as of {export.authorizations.at.isoformat()} (the customer's last event)",
        "",
    ]
    instruction = export.authorizations.official_instruction
    state = f"in force ({instruction.document_reference})" if instruction.in_force else "none"
    lines.append(
        f"Official instruction: {state}"
        + (f", since {instruction.since.isoformat()} by {instruction.changed_by}" if instruction.since else "")
        + "."
    )
    lines.append("")
    holders = [
        (h.contact_id, ", ".join(h.scopes), ", ".join(str(g.grant_id) for g in h.grants))
        for h in export.authorizations.holders
    ]
    lines += _table(["contact", "scopes", "grants"], holders) if holders else ["Nobody holds a grant."]
    changes = [r for r in rows if r.service == "contacts" and r.event_type != "AuthorizationChecked"]
    lines += ["", "## Changes to contacts and authorizations", ""]
    lines += _table(
        ["when", "what", "recorded by", "basis", "event"],
        [(r.occurred_at.isoformat(), r.summary, r.actor, r.basis, r.event_id) for r in changes],
    )
    lines += ["", "## Actions and the authority they relied on", ""]
    lines += _table(
        ["when", "action", "by", "on behalf of", "basis", "grant", "replay agrees", "checks before", "event"],
        [
            (
                a.event.occurred_at.isoformat(),
                a.summary,
                a.event.actor,
                a.contact_name or a.on_behalf_of,
                a.basis,
                a.grant.grant_id if a.grant else "",
                "" if a.agrees is None else ("yes" if a.agrees else "NO"),
                len(a.checks_before),
                a.event.event_id,
            )
            for a in export.actions
            if a.event.service != "contacts" or a.on_behalf_of
        ],
    )
    best = [a for a in export.actions if a.basis == "best_knowledge"]
    lines += ["", "## Done to best knowledge (no grant)", ""]
    lines += [f"- {a.event.occurred_at.isoformat()} {a.explanation} (event {a.event.event_id})" for a in best] or [
        "None."
    ]
    disagreements = [a for a in export.actions if a.agrees is False]
    lines += ["", "## Where the replay disagrees with the recorded decision", ""]
    lines += [f"- event {a.event.event_id}: {a.discrepancy}" for a in disagreements] or ["Nowhere."]
    lines += ["", "## Checks made by support", ""]
    lines += _table(
        [
            "when",
            "asked about",
            "agent",
            "requester",
            "action",
            "outcome",
            "reasons",
            "replay agrees",
            "ticket",
            "event",
        ],
        [
            (
                c.checked_at.isoformat(),
                # A check about a past instant answers for then, not for when it was made.
                c.asked_about.isoformat() if c.asked_about else c.checked_at.isoformat(),
                c.agent,
                f"{c.requester_kind}:{c.requester}",
                c.action,
                c.outcome,
                ", ".join(c.reasons),
                "" if c.agrees is None else ("yes" if c.agrees else "NO"),
                c.ticket_reference,
                c.event.event_id,
            )
            for c in export.checks
        ],
    )
    lines += [
        "",
        "Every row names its event id; the CSV and JSON exports carry each event's full data, metadata,",
        "correlation id and Kafka position.",
    ]
    return "\n".join(lines) + "\n"
