"""Event classes registered once with their versions, and the upcaster chain.

Events are stored as JSON at the schema version they were written with and never rewritten.
On read, `EventRegistry.decode` runs the data through the upcasters from its stored version up to
the class's current version and validates it into the frozen dataclass. Pydantic does the
(de)serialisation at this edge only: inside the services events are plain dataclasses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter

from shared.envelope import DomainEvent, RecordedEvent
from shared.errors import UnknownEventType

E = TypeVar("E", bound=type[DomainEvent])
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


_ADAPTERS: dict[type[DomainEvent], TypeAdapter[Any]] = {}


def _adapter(cls: type[DomainEvent]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


class EventRegistry:
    """Maps event type names to classes; one registry per service (plus consumers' own)."""

    def __init__(self) -> None:
        self._classes: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, version: int = 1) -> Callable[[E], E]:
        def decorate(cls: E) -> E:
            if event_type in self._classes:
                raise ValueError(f"event type {event_type} registered twice")
            cls.event_type = event_type
            cls.schema_version = version
            self._classes[event_type] = cls
            return cls

        return decorate

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning `from_version` data into `from_version + 1` data."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return decorate

    def has_upcaster(self, event_type: str, from_version: int) -> bool:
        """Whether data of `from_version` can be upcast one step (the contract checks use this)."""
        return (event_type, from_version) in self._upcasters

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._classes

    @property
    def classes(self) -> Iterable[type[DomainEvent]]:
        return self._classes.values()

    def class_for(self, event_type: str) -> type[DomainEvent]:
        try:
            return self._classes[event_type]
        except KeyError:
            raise UnknownEventType(event_type, 0) from None

    def encode(self, event: DomainEvent) -> dict[str, Any]:
        """The event's data as JSON-ready values (what is stored and published)."""
        if type(event).__dict__.get("event_type") is None and type(event) not in self._classes.values():
            raise UnknownEventType(type(event).__name__, 0)
        data: dict[str, Any] = _adapter(type(event)).dump_python(event, mode="json")
        return data

    def upcast(self, event_type: str, version: int, data: Mapping[str, Any]) -> dict[str, Any]:
        cls = self.class_for(event_type)
        current = dict(data)
        while version < cls.schema_version:
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise UnknownEventType(event_type, version)
            current = step(current)
            version += 1
        if version != cls.schema_version:
            raise UnknownEventType(event_type, version)
        return current

    def decode(self, recorded: RecordedEvent) -> DomainEvent:
        return self.decode_data(recorded.event_type, recorded.schema_version, recorded.data)

    def decode_data(self, event_type: str, version: int, data: Mapping[str, Any]) -> DomainEvent:
        cls = self.class_for(event_type)
        event: DomainEvent = _adapter(cls).validate_python(self.upcast(event_type, version, data))
        return event
