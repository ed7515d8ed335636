"""The event store port and its implementations (PostgreSQL, and in-memory for unit tests)."""

from shared.eventstore.cursor import Cursor
from shared.eventstore.port import EventBatch, EventStore, Stream

__all__ = ["Cursor", "EventBatch", "EventStore", "Stream"]
