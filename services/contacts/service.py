"""The contacts service's composition: its events, migrations, read models and routes."""

from __future__ import annotations

from pathlib import Path

from services.contacts.api.routes import routers
from services.contacts.domain.events import registry
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="contacts",
    registry=registry,
    migrations_dir=Path(__file__).parent / "migrations",
    routes=routers,
    description="Customer address, contact persons, authorizations and the authorization check.",
)
