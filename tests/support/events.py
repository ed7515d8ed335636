"""Event classes used only by the kernel's tests."""

from __future__ import annotations

from dataclasses import dataclass

from shared.envelope import DomainEvent
from shared.registry import EventRegistry

registry = EventRegistry()


@registry.register("ThingHappened", version=1)
@dataclass(frozen=True)
class ThingHappened(DomainEvent):
    n: int
    note: str = ""
