"""Events of the identity service, published on `identity.events` (they arrive with their issue)."""

from __future__ import annotations

from shared.registry import EventRegistry

registry = EventRegistry()
