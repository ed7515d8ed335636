"""The billing service's composition: its events, migrations, read models, routes and startup."""

from __future__ import annotations

from pathlib import Path

from services.billing import settings
from services.billing.api.routes import routers
from services.billing.authorization import AuthorizationCopy
from services.billing.domain.events import registry
from services.billing.notices import InvoiceEmailNotices
from services.billing.projections.authorization import BillingAuthorizationProjection
from services.billing.projections.history import BillingHistoryProjection
from shared.customers import CustomerAccountsProjection
from shared.mail_outbox import start_outbox_sender
from shared.service import Runtime, ServiceSpec


def _start_api(runtime: Runtime) -> None:
    runtime.extras["authorization_copy"] = AuthorizationCopy(runtime.pool)


def _start_notifier(runtime: Runtime) -> None:
    start_outbox_sender(runtime, InvoiceEmailNotices(settings.mail_from()))


SPEC = ServiceSpec(
    name="billing",
    registry=registry,
    migrations_dir=Path(__file__).parent / "migrations",
    projections=(BillingHistoryProjection(),),
    kafka_projections=(CustomerAccountsProjection(), BillingAuthorizationProjection()),
    authorization_copy=BillingAuthorizationProjection.name,
    routes=routers,
    on_startup=(_start_api,),
    on_worker_startup=(_start_notifier,),
    description="Invoice address and invoice e-mail, changed only by those allowed to.",
)
