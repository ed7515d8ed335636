"""Routes for domains themselves: register (order), list, show, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.domains import handlers, queries
from services.domains.api.acting import OnBehalfOf, authorize, authorized_change, context_for
from services.domains.api.problems import READ, WRITE
from services.domains.api.schemas import CancelBody, Changed, DomainName, DomainOut, RegisterBody, Registered
from services.domains.api.views import authorized, domain_out, recorded_times
from services.domains.domain.domains import in_force, today
from services.domains.domain.names import parse_domain, parse_registrable_domain
from services.domains.runtime import domains_runtime
from shared.auth.dependencies import CurrentPrincipal
from shared.auth.principal import Role
from shared.http.context import CustomerNumber
from shared.scopes import Scope

PREFIX = "/api/domains/v1"


def router() -> APIRouter:
    r = APIRouter(prefix=PREFIX, tags=["domains"])

    @r.post(
        "/customers/{customer_number}/domains",
        status_code=201,
        response_model=Registered,
        responses=WRITE,
        summary="Register (order) a domain name",
        description="Needs orders:place when support acts on a requester's behalf. 409 when the name is"
        " registered already (by anyone: domain availability is public).",
    )
    async def register(
        customer_number: CustomerNumber,
        body: RegisterBody,
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
        on_behalf_of: OnBehalfOf = None,
    ) -> Registered:
        name = parse_registrable_domain(body.name)
        authority = await authorize(
            request, principal, customer_number, Scope.PLACE_ORDERS, on_behalf_of, operation="register_domain",
            target=name.ascii,
        )  # fmt: skip
        outcome = await handlers.register_domain(
            domains_runtime(request), name, context_for(request, customer_number, authority)
        )
        response.headers["Location"] = f"{PREFIX}/customers/{customer_number}/domains/{name.ascii}"
        return Registered(
            domain=name.ascii, unicode_name=name.unicode, version=outcome.version, **authorized(authority).model_dump()
        )

    @r.get(
        "/customers/{customer_number}/domains",
        response_model=list[DomainOut],
        responses=READ,
        summary="The customer's domains (running contracts) with everything booked on them",
        description="Needs contracts:view when support acts on a requester's behalf.",
    )
    async def list_domains(
        customer_number: CustomerNumber, request: Request, principal: CurrentPrincipal, on_behalf_of: OnBehalfOf = None
    ) -> list[DomainOut]:
        await authorize(
            request, principal, customer_number, Scope.VIEW_CONTRACTS, on_behalf_of, operation="list_domains",
            reviewers=(Role.COMPLIANCE,),
        )  # fmt: skip
        rt = domains_runtime(request)
        rows = await queries.contracts(rt.pool, customer_number, today(rt.clock.now()))
        return [DomainOut(**row) for row in rows]

    @r.get(
        "/customers/{customer_number}/domains/{domain}",
        response_model=DomainOut,
        responses=READ,
        summary="One domain as it is now (read from its event stream)",
    )
    async def show_domain(
        customer_number: CustomerNumber,
        domain: DomainName,
        request: Request,
        principal: CurrentPrincipal,
        on_behalf_of: OnBehalfOf = None,
    ) -> DomainOut:
        name = parse_domain(domain).ascii
        await authorize(
            request, principal, customer_number, Scope.VIEW_CONTRACTS, on_behalf_of, operation="show_domain",
            target=name, reviewers=(Role.COMPLIANCE,),
        )  # fmt: skip
        rt = domains_runtime(request)
        state, recorded = await handlers.load_domain(rt.uow, name)
        now = rt.clock.now()
        return domain_out(in_force(state, customer_number, now), now, recorded_times(recorded))

    @r.post(
        "/customers/{customer_number}/domains/{domain}/cancellation",
        response_model=Changed,
        responses=WRITE,
        summary="Cancel a domain (effective at the end of `effective_on`, default: end of this month)",
        description="Needs services:cancel when support acts on a requester's behalf.",
    )
    async def cancel(
        customer_number: CustomerNumber,
        domain: DomainName,
        body: CancelBody,
        request: Request,
        principal: CurrentPrincipal,
        on_behalf_of: OnBehalfOf = None,
    ) -> Changed:
        name = parse_domain(domain).ascii
        return await authorized_change(
            request, principal, customer_number, on_behalf_of, Scope.CANCEL_SERVICES, operation="cancel_domain",
            target=name, change=lambda rt, context: handlers.cancel_domain(rt, name, body.effective_on, context),
        )  # fmt: skip

    @r.delete(
        "/customers/{customer_number}/domains/{domain}/cancellation",
        response_model=Changed,
        responses=WRITE,
        summary="Withdraw a pending cancellation (up to and on its last day); none pending: nothing changes",
        description="Needs services:cancel when support acts on a requester's behalf. After the last day of"
        " service the contract has ended: 409.",
    )
    async def withdraw_cancellation(
        customer_number: CustomerNumber,
        domain: DomainName,
        request: Request,
        principal: CurrentPrincipal,
        on_behalf_of: OnBehalfOf = None,
    ) -> Changed:
        name = parse_domain(domain).ascii
        return await authorized_change(
            request, principal, customer_number, on_behalf_of, Scope.CANCEL_SERVICES,
            operation="withdraw_cancellation", target=name,
            change=lambda rt, context: handlers.withdraw_cancellation(rt, name, context),
        )  # fmt: skip

    return r
