"""Events of the domains service, published on `domains.events` (they arrive with their issue)."""

from __future__ import annotations

from shared.registry import EventRegistry

registry = EventRegistry()
