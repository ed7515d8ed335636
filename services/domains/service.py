"""The domains service's composition: its events, migrations, read models, routes and startup.

Read models: `ContractsProjection` from its own store; from Kafka, `AuthorizationProjection`
(who may have what done, from contacts.events; it notifies domains' API processes of each
change, which keep customers' authorizations in memory in between; its contacts table also answers
the contact list) and `CustomerAccountsProjection` (which customers exist, from identity.events).
"""

from __future__ import annotations

from pathlib import Path

from services.domains.api.fast_commands import FastCommands
from services.domains.api.routes import routers
from services.domains.domain.events import registry
from services.domains.projections.authorization import NotifyingAuthorizationProjection
from services.domains.projections.contracts import ContractsProjection
from services.domains.runtime import start
from shared.customers import CustomerAccountsProjection
from shared.service import ServiceSpec

SPEC = ServiceSpec(
    name="domains",
    registry=registry,
    migrations_dir=Path(__file__).parent / "migrations",
    projections=(ContractsProjection(),),
    kafka_projections=(
        NotifyingAuthorizationProjection(),
        CustomerAccountsProjection(),
    ),
    authorization_copy=NotifyingAuthorizationProjection.name,
    routes=routers,
    http_middleware=(FastCommands,),
    on_startup=(start,),
    description="Domains, e-mail vhosts, mailboxes, redirects, FTP access and cancellations, each on the"
    " authority of the account owner or of a requester support acts for.",
)
