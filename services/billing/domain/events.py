"""Events of the billing service, published on `billing.events` (they arrive with their issue)."""

from __future__ import annotations

from shared.registry import EventRegistry

registry = EventRegistry()
