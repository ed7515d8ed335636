"""The contacts service's composition: its events, migrations, read models, routes and startup."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from services.contacts import settings
from services.contacts.api.hot_check import HotCheck
from services.contacts.api.routes import routers
from services.contacts.check_recorder import CheckRecorder
from services.contacts.domain.events import registry
from services.contacts.follower import AuthorizationFollower
from services.contacts.notifier import OwnerNotifications
from services.contacts.projections.timeline import AuthorizationTimelineProjection
from shared.authorization.memory import MemoryAuthorizationReader
from shared.authorization.projection import AuthorizationProjection
from shared.authorization.queries import SqlAuthorizationReader
from shared.customers import CustomerAccountsProjection, KnownCustomers
from shared.mail_outbox import start_outbox_sender
from shared.service import Runtime, ServiceSpec

log = structlog.get_logger(__name__)


async def _start_authorization_reader(runtime: Runtime) -> None:
    # Either way the check uses the model every consumer of contacts.events builds, and `decide`.
    if settings.authorization_reader() == "sql":
        runtime.extras["authorization_reader"] = SqlAuthorizationReader(runtime.pool)
        return
    follower = AuthorizationFollower(runtime.pool, runtime.store)
    loaded = await follower.load()  # before the first request is answered
    # (The loaded model lives as long as the process: the kernel freezes it out of the garbage
    # collector's walks once the process has started, see shared.heap.)
    log.info("authorization_model_loaded", events=loaded)
    runtime.extras["authorization_follower"] = follower
    runtime.extras["authorization_reader"] = MemoryAuthorizationReader(follower.memory)
    runtime.extras["authorization_follower_task"] = asyncio.get_running_loop().create_task(
        follower.run(), name="authorization-follower"
    )


def _start_known_customers(runtime: Runtime) -> None:
    runtime.extras["known_customers"] = KnownCustomers()  # (staff's routes: `api.acting.known_customer`)


def _start_check_recorder(runtime: Runtime) -> None:
    runtime.extras["check_recorder"] = CheckRecorder(runtime.uow)


def _start_owner_notifier(runtime: Runtime) -> None:
    start_outbox_sender(runtime, OwnerNotifications())


SPEC = ServiceSpec(
    name="contacts",
    registry=registry,
    migrations_dir=Path(__file__).parent / "migrations",
    projections=(AuthorizationProjection(), AuthorizationTimelineProjection()),
    kafka_projections=(CustomerAccountsProjection(),),
    routes=routers,
    on_startup=(_start_authorization_reader, _start_check_recorder, _start_known_customers),
    on_worker_startup=(_start_owner_notifier,),
    hot_routes=(HotCheck(),),
    description="Customer address, contact persons, authorizations and the authorization check.",
)
