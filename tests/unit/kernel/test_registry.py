"""Event registry: encoding, decoding, and the upcaster chain for old schema versions."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.envelope import DomainEvent
from shared.errors import UnknownEventType
from shared.registry import EventRegistry

registry = EventRegistry()


@registry.register("AddressMoved", version=3)
@dataclass(frozen=True)
class AddressMoved(DomainEvent):
    contact_id: uuid.UUID
    street: str
    country: str
    moved_at: datetime


@registry.upcaster("AddressMoved", from_version=1)
def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    # v1 had one "address" line; v2 split the country off.
    street, _, country = data.pop("address").rpartition(", ")
    return {**data, "street": street, "country": country}


@registry.upcaster("AddressMoved", from_version=2)
def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "moved_at": data.pop("when")}


def test_current_version_round_trips_through_json_values() -> None:
    event = AddressMoved(uuid.uuid4(), "Hauptstr. 1", "DE", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    data = registry.encode(event)
    assert data["contact_id"] == str(event.contact_id)
    assert data["moved_at"].startswith("2026-01-02T03:04:05")
    assert registry.decode_data("AddressMoved", 3, data) == event


def test_old_versions_are_upcast_on_read_never_rewritten() -> None:
    contact = uuid.uuid4()
    v1 = {"contact_id": str(contact), "address": "Hauptstr. 1, Berlin, DE", "when": "2025-05-01T10:00:00+00:00"}
    stored = dict(v1)
    event = registry.decode_data("AddressMoved", 1, stored)
    assert event == AddressMoved(contact, "Hauptstr. 1, Berlin", "DE", datetime(2025, 5, 1, 10, tzinfo=UTC))
    assert stored == v1  # the stored data itself is untouched


def test_missing_upcaster_or_unknown_type_is_an_error() -> None:
    with pytest.raises(UnknownEventType):
        registry.decode_data("AddressMoved", 0, {})
    with pytest.raises(UnknownEventType):
        registry.decode_data("NoSuchEvent", 1, {})
    with pytest.raises(UnknownEventType):
        registry.decode_data("AddressMoved", 4, {})


def test_a_type_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="twice"):

        @registry.register("AddressMoved", version=4)
        @dataclass(frozen=True)
        class Again(DomainEvent):
            x: int
