"""What the domains handlers need at run time, built once at startup (`ServiceSpec.on_startup`)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from services.domains.adapters.secrets import PasswordHasher
from services.domains.appends import GroupAppender
from services.domains.authorizations import AuthorizationCache
from services.domains.settings import DomainsSettings
from services.domains.states import DomainStates
from shared.clock import Clock
from shared.customers import KnownCustomers
from shared.db import Pool
from shared.http.context import runtime_of
from shared.mail import Mailer, SmtpMailer
from shared.service import Runtime
from shared.unit_of_work import UnitOfWorkFactory


@dataclass
class DomainsRuntime:
    pool: Pool
    uow: UnitOfWorkFactory
    clock: Clock
    mailer: Mailer
    hasher: PasswordHasher
    settings: DomainsSettings
    portal_url: str
    known_customers: KnownCustomers
    states: DomainStates
    authorizations: AuthorizationCache
    appends: GroupAppender


def start(runtime: Runtime) -> None:
    settings = DomainsSettings()
    mailer = runtime.extras.get("mailer") or SmtpMailer(runtime.settings.smtp_host, runtime.settings.smtp_port)
    runtime.extras["domains"] = DomainsRuntime(
        pool=runtime.pool,
        uow=runtime.uow,
        clock=runtime.clock,
        mailer=mailer,
        hasher=PasswordHasher(settings.argon2_parameters),
        settings=settings,
        portal_url=runtime.settings.portal_url,
        known_customers=KnownCustomers(),
        states=DomainStates(runtime.spec.registry),
        authorizations=AuthorizationCache(
            runtime.pool, runtime.settings.database_url, consumer=runtime.spec.authorization_copy_consumer
        ),
        appends=GroupAppender(runtime.pool, runtime.store),
    )
    runtime.extras["domains"].authorizations.start()


def domains_runtime(request: Request) -> DomainsRuntime:
    rt: DomainsRuntime = runtime_of(request).extras["domains"]
    return rt
