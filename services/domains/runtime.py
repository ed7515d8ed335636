"""What the domains handlers need at run time, built once at startup (`ServiceSpec.on_startup`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from services.domains.adapters.secrets import PasswordHasher
from services.domains.settings import DomainsSettings
from shared.authorization.queries import AuthorizationReader, SqlAuthorizationReader
from shared.clock import Clock
from shared.customers import ensure_known_customer
from shared.db import Pool
from shared.http.context import runtime_of
from shared.mail import Mailer, SmtpMailer
from shared.service import Runtime
from shared.unit_of_work import UnitOfWorkFactory


@dataclass
class KnownCustomers:
    """Customers seen in `customer_accounts` (from identity.events), remembered once seen.

    Accounts are never deleted, so a positive answer stays true and needs no invalidation; an
    unknown number is asked again every time (it may have been opened meanwhile).
    """

    limit: int = 1_000_000
    _known: set[str] = field(default_factory=set)

    async def ensure(self, pool: Pool, customer_number: str) -> None:
        if customer_number in self._known:
            return
        await ensure_known_customer(pool, customer_number)
        if len(self._known) < self.limit:
            self._known.add(customer_number)


@dataclass
class DomainsRuntime:
    pool: Pool
    uow: UnitOfWorkFactory
    clock: Clock
    reader: AuthorizationReader
    mailer: Mailer
    hasher: PasswordHasher
    settings: DomainsSettings
    portal_url: str
    known_customers: KnownCustomers


def start(runtime: Runtime) -> None:
    settings = DomainsSettings()
    mailer = runtime.extras.get("mailer") or SmtpMailer(runtime.settings.smtp_host, runtime.settings.smtp_port)
    runtime.extras["domains"] = DomainsRuntime(
        pool=runtime.pool,
        uow=runtime.uow,
        clock=runtime.clock,
        # Domains' own copy of the authorization model (AuthorizationProjection, fed from
        # contacts.events): one indexed query per table, no call to contacts.
        reader=SqlAuthorizationReader(runtime.pool),
        mailer=mailer,
        hasher=PasswordHasher(settings.argon2_parameters),
        settings=settings,
        portal_url=runtime.settings.portal_url,
        known_customers=KnownCustomers(),
    )


def domains_runtime(request: Request) -> DomainsRuntime:
    rt: DomainsRuntime = runtime_of(request).extras["domains"]
    return rt
