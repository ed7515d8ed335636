"""The schema compatibility checker on synthetic before/after schemas, and event schemas' shape."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import pytest

from shared.contracts.compatibility import breaking_changes
from shared.contracts.event_schemas import UnportableSchema, event_schema
from shared.envelope import DomainEvent

NULLABLE_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}]}


def obj(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


BEFORE = obj(
    ["id", "name", "at"],
    id={"type": "string", "format": "uuid"},
    name={"type": "string"},
    at={"type": "string", "format": "date-time"},
    note={**NULLABLE_STRING, "default": None},
    tags={"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
)


def changed(**edits: Any) -> dict[str, Any]:
    after: dict[str, Any] = {**BEFORE, "properties": dict(BEFORE["properties"])}
    for name, value in edits.items():
        if name == "required":
            after["required"] = value
        elif value is None:
            del after["properties"][name]
        else:
            after["properties"][name] = value
    return after


def test_the_same_schema_is_compatible() -> None:
    assert breaking_changes(BEFORE, BEFORE) == []


def test_a_removed_field_breaks() -> None:
    assert breaking_changes(BEFORE, changed(name=None, required=["id", "at"])) == ["$.name: removed"]
    assert breaking_changes(BEFORE, changed(note=None)) == ["$.note: removed"]


@pytest.mark.parametrize(
    ("field", "new"),
    [
        ("name", {"type": "integer"}),
        ("id", {"type": "string"}),  # format uuid dropped
        ("at", {"type": "string", "format": "date"}),
        ("name", NULLABLE_STRING),  # now nullable: old consumers get null
        ("note", {"type": "string", "default": None}),  # no longer nullable: old events hold null
        ("tags", {"type": "array", "items": {"type": "integer"}}),
        ("tags", {"type": "string"}),
    ],
)
def test_a_retyped_field_breaks(field: str, new: dict[str, Any]) -> None:
    problems = breaking_changes(BEFORE, changed(**{field: new}))
    assert problems
    assert all(p.startswith(f"$.{field}") for p in problems)


def test_an_optional_field_made_required_breaks() -> None:
    assert breaking_changes(BEFORE, changed(required=["id", "name", "at", "note"])) == [
        "$.note: optional field made required"
    ]


def test_a_new_required_field_breaks_because_old_events_lack_it() -> None:
    after = changed(kind={"type": "string"}, required=["id", "name", "at", "kind"])
    assert breaking_changes(BEFORE, after) == ["$.kind: new field is required (events already written lack it)"]


def test_an_added_optional_field_is_fine() -> None:
    assert breaking_changes(BEFORE, changed(extra={**NULLABLE_STRING, "default": None})) == []
    assert breaking_changes(BEFORE, changed(count={"type": "integer", "default": 0})) == []


def test_a_field_made_optional_and_descriptions_are_fine() -> None:
    after = changed(required=["id", "at"], name={"type": "string", "title": "Name", "description": "who"})
    assert breaking_changes(BEFORE, after) == []


def test_enum_values_may_be_added_but_not_removed() -> None:
    widened = changed(tags={"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}})
    narrowed = changed(tags={"type": "array", "items": {"type": "string", "enum": ["a"]}})
    assert breaking_changes(BEFORE, widened) == []
    assert breaking_changes(BEFORE, narrowed) == ["$.tags[]: values removed: ['b']"]
    closed = changed(name={"type": "string", "enum": ["x"]})
    assert breaking_changes(BEFORE, closed) == ["$.name: restricted to the values ['x']"]


def test_nested_objects_are_compared_field_by_field() -> None:
    before = obj(["inner"], inner=obj(["a"], a={"type": "string"}, b={"type": "integer", "default": 0}))
    after = obj(["inner"], inner=obj(["a"], a={"type": "integer"}))
    assert breaking_changes(before, after) == ["$.inner.b: removed", "$.inner.a: type changed from string to integer"]


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Painted(DomainEvent):
    """Something was painted."""

    thing_id: uuid.UUID
    colours: tuple[Colour, ...]
    at: datetime
    primary: Colour = Colour.RED
    note: str | None = None


def test_event_schemas_are_self_contained_and_optional_means_has_a_default() -> None:
    schema = event_schema(Painted)
    assert "$defs" not in str(schema)
    assert "$ref" not in str(schema)
    assert schema["required"] == ["thing_id", "colours", "at"]
    assert schema["properties"]["colours"]["items"]["enum"] == ["red", "blue"]
    assert schema["properties"]["primary"]["default"] == "red"
    assert schema["description"] == "Something was painted."


@dataclass(frozen=True)
class Pair(DomainEvent):
    both: tuple[str, int]


def test_a_schema_draft_07_cannot_express_is_refused() -> None:
    with pytest.raises(UnportableSchema, match="prefixItems"):
        event_schema(Pair)
