"""What the system publishes: each service's topic and the registry of its event classes.

Found at generation time from the services' composition (`services.<name>.service.SPEC`), so a
new event class, or a new service in `shared.kafka.SERVICES`, shows up in the contract without
anyone listing it here. The kernel imports no service statically; this is only a lookup by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

from shared.kafka import SERVICES
from shared.registry import EventRegistry


@dataclass(frozen=True)
class PublishedTopic:
    service: str
    topic: str
    registry: EventRegistry
    description: str = ""
    # Whether the service also publishes `<service>.checkpoints` (shared.audit.checkpoints).
    checkpoints: bool = False


def published_topics(services: Sequence[str] = SERVICES) -> list[PublishedTopic]:
    topics: list[PublishedTopic] = []
    for service in services:
        spec = importlib.import_module(f"services.{service}.service").SPEC
        # Every service's workers publish checkpoints (shared.service.Workers, CHECKPOINT_INTERVAL_S).
        topics.append(PublishedTopic(service, spec.topic, spec.registry, spec.description, checkpoints=True))
    return topics
