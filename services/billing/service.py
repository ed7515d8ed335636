"""The billing service's composition: its events, migrations, read models, routes and startup."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.billing import settings
from services.billing.api.routes import routers
from services.billing.authorization import AuthorizationCopy
from services.billing.domain.events import registry
from services.billing.notices import InvoiceEmailNotifier
from services.billing.projections.authorization import BillingAuthorizationProjection
from services.billing.projections.history import BillingHistoryProjection
from shared.customers import CustomerAccountsProjection
from shared.mail import SmtpMailer
from shared.service import Runtime, ServiceSpec


def _start_api(runtime: Runtime) -> None:
    runtime.extras["authorization_copy"] = AuthorizationCopy(runtime.pool)


def _start_notifier(runtime: Runtime) -> None:
    mailer = runtime.extras.get("mailer") or SmtpMailer(runtime.settings.smtp_host, runtime.settings.smtp_port)
    notifier = InvoiceEmailNotifier(runtime.pool, mailer, runtime.clock, settings.mail_from())
    runtime.extras["notifier"] = notifier
    runtime.extras["notifier_task"] = asyncio.get_running_loop().create_task(notifier.run(), name="billing-notifier")


SPEC = ServiceSpec(
    name="billing",
    registry=registry,
    migrations_dir=Path(__file__).parent / "migrations",
    projections=(BillingHistoryProjection(),),
    kafka_projections=(CustomerAccountsProjection(), BillingAuthorizationProjection()),
    routes=routers,
    on_startup=(_start_api,),
    on_worker_startup=(_start_notifier,),
    description="Invoice address and invoice e-mail, changed only by those allowed to.",
)
