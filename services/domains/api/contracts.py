"""Routes for "list our contracts and booked services", and the contacts domains knows."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.domains import handlers, queries
from services.domains.api.acting import OnBehalfOf, authorize
from services.domains.api.problems import READ
from services.domains.api.schemas import ContractsOut, DomainOut, KnownContact, KnownContacts
from services.domains.domain.authority import ActingKind, requester_label
from services.domains.domain.domains import today
from services.domains.domain.events import ContractListProvided
from services.domains.runtime import domains_runtime
from shared.auth.dependencies import CurrentPrincipal, ensure_customer_access
from shared.auth.principal import Role
from shared.http.context import CustomerNumber, event_context
from shared.scopes import Scope


def router() -> APIRouter:
    r = APIRouter(prefix="/api/domains/v1", tags=["contracts"])

    @r.get(
        "/customers/{customer_number}/contracts",
        response_model=ContractsOut,
        responses=READ,
        summary="Everything the customer has booked here: domains, vhosts, mailboxes, redirects, FTP access",
        description="Support on a requester's behalf needs contracts:view; handing the list out is recorded"
        " (ContractListProvided). Compliance may read it for itself.",
    )
    async def contracts(
        customer_number: CustomerNumber, request: Request, principal: CurrentPrincipal, on_behalf_of: OnBehalfOf = None
    ) -> ContractsOut:
        authority = await authorize(
            request, principal, customer_number, Scope.VIEW_CONTRACTS, on_behalf_of, operation="list_contracts",
            reviewers=(Role.COMPLIANCE,),
        )  # fmt: skip
        rt = domains_runtime(request)
        now = rt.clock.now()
        rows = await queries.contracts(rt.pool, customer_number, today(now))
        if authority.acting in (ActingKind.SUPPORT_ON_BEHALF, ActingKind.WRITTEN_INSTRUCTION):
            asked = authority.on_behalf_of
            event = ContractListProvided(
                customer_number=customer_number,
                agent=str(authority.actor),
                on_behalf_of=requester_label(asked) if asked is not None else f"customer:{customer_number}",
                contact_id=authority.contact_id,
                authorization=authority.basis,
                grant_id=authority.grant_id,
            )
            context = event_context(request, customer_number, authority.actor, **authority.metadata())
            await handlers.record_support_event(rt.uow, context, event)
        return ContractsOut(
            customer_number=customer_number,
            as_of=now,
            domains=[DomainOut(**row) for row in rows],
            authorization=authority.basis,
        )

    @r.get(
        "/customers/{customer_number}/contacts",
        response_model=KnownContacts,
        responses=READ,
        summary="The customer's contact persons as the domains service knows them (from contacts.events)",
    )
    async def known_contacts(
        customer_number: CustomerNumber, request: Request, principal: CurrentPrincipal
    ) -> KnownContacts:
        ensure_customer_access(principal, customer_number, Role.SUPPORT, Role.ADMIN, Role.COMPLIANCE)
        rows = await queries.customer_contacts(domains_runtime(request).pool, customer_number)
        return KnownContacts(customer_number=customer_number, contacts=[KnownContact(**r) for r in rows])

    return r
