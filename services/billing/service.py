"""The billing service's composition."""

from __future__ import annotations

from pathlib import Path

from services.billing.domain.events import registry
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="billing",
    registry=registry,
    migrations_dir=Path(__file__).parent / "migrations",
    description="Invoice address, invoice e-mail and billing contact.",
)
