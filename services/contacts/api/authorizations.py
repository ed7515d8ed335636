"""Routes for grants, the official instruction, the check, "as of T" and the history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AwareDatetime

from services.contacts import handlers, queries
from services.contacts.api.acting import READERS, WRITERS, acting_for, context_for, known_customer
from services.contacts.api.checking import instant, reader_of, run_check
from services.contacts.api.problems import READ, WRITE
from services.contacts.api.schemas import (
    AuthorizationsOut,
    Changed,
    CheckBody,
    CheckResult,
    ContactId,
    GrantBody,
    GrantCreated,
    GrantId,
    HistoryEntry,
    HistoryPage,
    InstructionBody,
    InstructionOut,
    RevokeBody,
    ScopeOut,
    WithdrawInstructionBody,
)
from services.contacts.api.views import authorizations_out, check_json, instruction_out
from services.contacts.domain import authorizations as domain
from services.contacts.domain.events import AuthorizationChecked
from shared.auth.dependencies import CurrentPrincipal, ensure_customer_access
from shared.auth.principal import PrincipalKind
from shared.http.context import CustomerNumber, event_context, runtime_of
from shared.scopes import DESCRIPTIONS, Scope

AS_OF = "The instant to answer for (RFC 3339, with offset), now or in the past (a future one is 422); absent: now"


def router() -> APIRouter:
    r = APIRouter(prefix="/api/contacts/v1", tags=["authorizations"], dependencies=[Depends(known_customer)])

    @r.get("/scopes", response_model=list[ScopeOut], summary="The scopes a contact can be granted")
    async def scopes(principal: CurrentPrincipal) -> list[ScopeOut]:
        return [ScopeOut(scope=s.value, description=DESCRIPTIONS[s]) for s in Scope]

    @r.post(
        "/customers/{customer_number}/contacts/{contact_id}/authorizations",
        status_code=201,
        response_model=GrantCreated,
        responses=WRITE,
        summary="Grant a contact scopes (from valid_from, optionally until valid_until)",
    )
    async def authorize(
        customer_number: CustomerNumber,
        contact_id: ContactId,
        body: GrantBody,
        request: Request,
        response: Response,
        principal: CurrentPrincipal,
    ) -> GrantCreated:
        acting = acting_for(principal, customer_number, body.on_behalf_of)
        context = context_for(request, customer_number, principal, acting)
        cmd = domain.AuthorizeContact(contact_id, frozenset(body.scopes), body.valid_from, body.valid_until, body.note)
        grant_id = uuid.uuid4()
        now = context.occurred_at
        recorded = await handlers.on_contacts(
            runtime_of(request).uow, context, lambda s: domain.decide_authorize(s, cmd, acting, now, grant_id)
        )
        response.headers["Location"] = f"/api/contacts/v1/customers/{customer_number}/authorizations?grant={grant_id}"
        return GrantCreated(grant_id=grant_id, version=recorded[-1].stream_version)

    @r.post(
        "/customers/{customer_number}/authorizations/{grant_id}/revocation",
        response_model=Changed,
        responses=WRITE,
        summary="Revoke a grant, with a reason",
    )
    async def revoke(
        customer_number: CustomerNumber,
        grant_id: GrantId,
        body: RevokeBody,
        request: Request,
        principal: CurrentPrincipal,
    ) -> Changed:
        acting = acting_for(principal, customer_number, body.on_behalf_of)
        context = context_for(request, customer_number, principal, acting)
        cmd = domain.RevokeAuthorization(grant_id, body.reason)
        now = context.occurred_at
        recorded = await handlers.on_contacts(
            runtime_of(request).uow, context, lambda s: domain.decide_revoke(s, cmd, acting, now)
        )
        return Changed(version=recorded[-1].stream_version)

    @r.put(
        "/customers/{customer_number}/official-instruction",
        response_model=Changed,
        responses=WRITE,
        summary="An official instruction is in force (from now on only granted contacts may)",
    )
    async def issue_instruction(
        customer_number: CustomerNumber, body: InstructionBody, request: Request, principal: CurrentPrincipal
    ) -> Changed:
        acting = acting_for(principal, customer_number, None)
        context = context_for(request, customer_number, principal, acting)
        cmd = domain.IssueOfficialInstruction(body.document_reference, body.note)
        recorded = await handlers.on_contacts(
            runtime_of(request).uow, context, lambda s: domain.decide_issue_instruction(s, cmd, acting)
        )
        return Changed(version=recorded[-1].stream_version)

    @r.post(
        "/customers/{customer_number}/official-instruction/withdrawal",
        response_model=Changed,
        responses=WRITE,
        summary="Withdraw the official instruction (support acts to best knowledge again)",
    )
    async def withdraw_instruction(
        customer_number: CustomerNumber, body: WithdrawInstructionBody, request: Request, principal: CurrentPrincipal
    ) -> Changed:
        acting = acting_for(principal, customer_number, None)
        context = context_for(request, customer_number, principal, acting)
        cmd = domain.WithdrawOfficialInstruction(body.reason)
        recorded = await handlers.on_contacts(
            runtime_of(request).uow, context, lambda s: domain.decide_withdraw_instruction(s, cmd, acting)
        )
        return Changed(version=recorded[-1].stream_version)

    @r.get(
        "/customers/{customer_number}/official-instruction",
        response_model=InstructionOut,
        responses=READ,
        summary="Whether an official instruction is in force (now, or as of `at`)",
    )
    async def get_instruction(
        customer_number: CustomerNumber,
        request: Request,
        principal: CurrentPrincipal,
        at: Annotated[AwareDatetime | None, Query(description=AS_OF)] = None,
    ) -> InstructionOut:
        ensure_customer_access(principal, customer_number, *READERS)
        moment = instant(at, runtime_of(request).clock.now())
        state = await reader_of(runtime_of(request)).authorizations_at(customer_number, moment)
        return instruction_out(state.instruction)

    @r.post(
        "/customers/{customer_number}/authorization-checks",
        response_model=CheckResult,
        responses=WRITE,
        summary="May this requester have this done for the customer (now, or as of `at`)?",
        description="Answers allowed, denied or best_knowledge with the reasons. Checks made by support are"
        " recorded (AuthorizationChecked) and get a check_id; the customer's own checks are not.",
    )
    async def check(
        customer_number: CustomerNumber, body: CheckBody, request: Request, principal: CurrentPrincipal
    ) -> Response:
        ensure_customer_access(principal, customer_number, *WRITERS)
        rt = runtime_of(request)
        check = await run_check(rt, customer_number, body)
        decision = check.decision
        check_id = None
        if principal.kind is PrincipalKind.STAFF:
            check_id = uuid.uuid4()
            event = AuthorizationChecked(
                check_id=check_id,
                agent=str(principal.actor),
                requester_kind=check.requester_kind.value,
                requester=check.requester_heard,
                requester_normalised=check.requester.value,
                contact_id=decision.contact_id,
                action=decision.action,
                at=decision.at,
                outcome=decision.outcome.value,
                reasons=decision.codes,
                grant_id=decision.grant_id,
                ticket_reference=body.ticket_reference,
            )
            context = event_context(request, customer_number, principal.actor, ticket=body.ticket_reference)
            await rt.extras["check_recorder"].record(context, event)
        # The hot path: serialised directly (the body is CheckResult, documented as the response model).
        return Response(check_json(decision, check_id), media_type="application/json")

    @r.get(
        "/customers/{customer_number}/authorizations",
        response_model=AuthorizationsOut,
        responses=READ,
        summary="Who held which scopes (now, or as of `at`)",
    )
    async def authorizations(
        customer_number: CustomerNumber,
        request: Request,
        principal: CurrentPrincipal,
        at: Annotated[AwareDatetime | None, Query(description=AS_OF)] = None,
    ) -> AuthorizationsOut:
        ensure_customer_access(principal, customer_number, *READERS)
        moment = instant(at, runtime_of(request).clock.now())
        return authorizations_out(await reader_of(runtime_of(request)).authorizations_at(customer_number, moment))

    @r.get(
        "/customers/{customer_number}/authorization-history",
        response_model=HistoryPage,
        responses=READ,
        summary="Timeline of contacts, grants, revocations, expiries, instruction changes and checks",
    )
    async def history(
        customer_number: CustomerNumber,
        request: Request,
        principal: CurrentPrincipal,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        cursor: Annotated[
            str | None,
            Query(max_length=400, description="The `next_cursor` of the page before; absent: the first page"),
        ] = None,
    ) -> HistoryPage:
        ensure_customer_access(principal, customer_number, *READERS)
        rt = runtime_of(request)
        entries, next_cursor = await queries.authorization_history(
            rt.pool, customer_number, rt.clock.now(), limit=limit, cursor=cursor
        )
        return HistoryPage(
            customer_number=customer_number,
            entries=[HistoryEntry(**{k: v for k, v in e.items() if k != "entry_key"}) for e in entries],
            next_cursor=next_cursor,
        )

    return r
