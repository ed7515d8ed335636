"""The domains service's composition."""

from __future__ import annotations

from pathlib import Path

from services.domains.api.routes import routers
from services.domains.domain.events import registry
from services.domains.projections.customer_contacts import CustomerContactsProjection
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="domains",
    registry=registry,
    migrations_dir=Path(__file__).parent / "migrations",
    kafka_projections=(CustomerContactsProjection(),),
    routes=routers,
    description="Domains, e-mail vhosts, mailboxes, redirects, FTP access and cancellations.",
)
