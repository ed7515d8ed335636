"""The identity service's composition."""

from __future__ import annotations

from pathlib import Path

from services.identity.domain.events import registry
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="identity",
    registry=registry,
    migrations_dir=Path(__file__).parent / "migrations",
    description="Accounts, login, sessions and tokens, password reset by one-time password.",
)
