"""Who acts, on whose authority: the account owner, or support on behalf of a requester.

Support names the requester in the `On-Behalf-Of` header (every method, bodies stay about the
thing itself): `contact_id:<uuid>`, `email:<address>` or `phone:<number>` as heard on the phone.
The decision is taken on domains' own copy of the authorization model (`AuthorizationProjection`
fed from contacts.events, its customers kept in the process between changes by
`authorizations.py`) with the shared `decide`, never by calling contacts. A refusal is
recorded (`SupportRequestRefused`) and answered 403 with the reasons.

Routes validate names before asking for authority (their syntax says nothing about the
customer), so a refusal always records a normalised target, never raw input.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

import structlog
from fastapi import Header, Request

from services.domains import handlers
from services.domains.api.schemas import Changed
from services.domains.api.views import authorized
from services.domains.domain.authority import ActingKind, Authority, CopyVersion, Refusal, judge, requester_label
from services.domains.domain.errors import RequestRefused
from services.domains.domain.events import SupportRequestRefused
from services.domains.runtime import DomainsRuntime, domains_runtime
from shared.auth.principal import Principal, PrincipalKind, Role
from shared.authorization import contract
from shared.authorization.decision import decide
from shared.authorization.freshness import ensure_copy_current
from shared.authorization.identifiers import InvalidIdentifier, Requester, RequesterKind
from shared.db import Connection
from shared.envelope import EventContext
from shared.errors import Forbidden, InvalidRequest, NotFound
from shared.http.context import event_context, runtime_of
from shared.scopes import Scope

log = structlog.get_logger(__name__)

OnBehalfOf = Annotated[
    str | None,
    Header(
        alias="On-Behalf-Of",
        max_length=400,
        description="Support only: who asked, as `contact_id:<uuid>`, `email:<address>` or `phone:<number>`"
        " (as heard). The operation then needs that requester's authorization for its scope. Or"
        " `written_instruction:<document reference>`: support carries out the account owner's written"
        " instruction (the owner's own authority; recorded with the reference).",
        examples=["email:ada@example.org"],
    ),
]


WRITTEN_INSTRUCTION = ActingKind.WRITTEN_INSTRUCTION.value


def parse_requester(raw: str) -> Requester:
    kind_text, colon, value = raw.partition(":")
    try:
        kind = RequesterKind(kind_text.strip().lower())
    except ValueError:
        kind = None
    if not colon or kind is None or not value.strip():
        raise InvalidRequest("On-Behalf-Of must be contact_id:<uuid>, email:<address> or phone:<number>")
    if kind is RequesterKind.CONTACT_ID:
        try:
            return Requester(kind, str(uuid.UUID(value.strip())))
        except ValueError:
            raise InvalidRequest("On-Behalf-Of: not a contact id") from None
    try:
        return Requester.heard(kind, value)
    except InvalidIdentifier as exc:
        raise InvalidRequest(f"On-Behalf-Of: {exc}") from None


async def authorize(
    request: Request,
    principal: Principal,
    customer_number: str,
    scope: Scope,
    on_behalf_of: str | None,
    *,
    operation: str,
    target: str | None = None,
    reviewers: tuple[Role, ...] = (),
    conn: Connection | None = None,
    mails_a_secret: bool = False,
) -> Authority:
    """The authority for one operation, or NotFound / Forbidden / RequestRefused (recorded).

    `reviewers`: staff roles that may read for themselves, without a requester (compliance).
    `conn`: the request's connection, if it holds one (else one is borrowed for the read).
    `mails_a_secret`: on a requester's word, only with a grant (see `domain.authority.judge`).
    """
    rt = domains_runtime(request)
    if principal.is_customer(customer_number):
        if on_behalf_of is not None:
            raise InvalidRequest("On-Behalf-Of is for support acting at a requester's request")
        await rt.known_customers.ensure(conn or rt.pool, customer_number)
        return Authority.account_owner(principal.actor, scope)
    if principal.kind is PrincipalKind.CUSTOMER:
        raise NotFound("no such customer")  # another tenant: learn nothing, not even that it exists
    reviewing = on_behalf_of is None and bool(reviewers) and principal.has_role(*reviewers)
    if not (reviewing or principal.has_role(Role.SUPPORT)):
        raise Forbidden("your role does not allow this")
    await rt.known_customers.ensure(conn or rt.pool, customer_number)
    if reviewing:
        return Authority.staff_review(principal.actor, scope)
    if on_behalf_of is None:
        raise InvalidRequest(
            "support acts at a requester's request: name them in the On-Behalf-Of header"
            " (contact_id:<uuid>, email:<address> or phone:<number>, or written_instruction:<reference>"
            " for the account owner's written instruction)"
        )
    kind, _, reference = on_behalf_of.partition(":")
    if kind.strip().lower() == WRITTEN_INSTRUCTION:
        if not reference.strip():
            raise InvalidRequest("On-Behalf-Of: written_instruction needs the reference of the owner's document")
        return Authority.owners_written_instruction(principal.actor, scope, reference.strip())
    requester = parse_requester(on_behalf_of)
    ensure_copy_current(runtime_of(request))
    now = rt.clock.now()
    kept = await rt.authorizations.customer(customer_number, conn)
    decision = decide(kept.view(requester, now), scope.value, now)
    copy_version = CopyVersion(contract.stream_of(customer_number), kept.version)
    verdict = judge(principal.actor, requester, scope, decision, copy_version, mails_a_secret=mails_a_secret)
    if isinstance(verdict, Refusal):
        await _record_refusal(request, principal, customer_number, requester, verdict, operation, target, conn)
        raise RequestRefused(
            f"the requester may not have this done ({scope.value})",
            action=scope.value,
            outcome=decision.outcome.value,
            reasons=[{"code": c, "message": m} for c, m in zip(verdict.codes, verdict.messages, strict=True)],
        )
    return verdict


async def _record_refusal(
    request: Request,
    principal: Principal,
    customer_number: str,
    requester: Requester,
    refusal: Refusal,
    operation: str,
    target: str | None,
    conn: Connection | None,
) -> None:
    label = requester_label(requester)
    event = SupportRequestRefused(
        customer_number=customer_number,
        agent=str(principal.actor),
        on_behalf_of=label,
        action=refusal.scope.value,
        reasons=refusal.codes,
        operation=operation,
        target=target,
        contact_id=refusal.decision.contact_id,
    )
    context = event_context(
        request,
        customer_number,
        principal.actor,
        acting=ActingKind.SUPPORT_ON_BEHALF.value,
        on_behalf_of=label,
        authorization="denied",
        scope=refusal.scope.value,
        authorization_version=refusal.copy_version.as_dict() if refusal.copy_version is not None else None,
    )
    await handlers.record_support_event(domains_runtime(request).uow, context, event, conn)
    log.info(
        "support_request_refused",
        customer_number=customer_number,
        operation=operation,
        action=refusal.scope.value,
        reasons=list(refusal.codes),
    )


def context_for(request: Request, customer_number: str, authority: Authority) -> EventContext:
    return event_context(request, customer_number, authority.actor, **authority.metadata())


Change = Callable[[DomainsRuntime, EventContext], Awaitable[handlers.Outcome]]


async def authorized_change(
    request: Request,
    principal: Principal,
    customer_number: str,
    on_behalf_of: str | None,
    scope: Scope,
    *,
    operation: str,
    target: str,
    change: Change,
) -> Changed:
    """Most commands: authorize the caller for `scope`, record `change` on that authority, and
    answer the new version with the authority relied on."""
    authority = await authorize(
        request, principal, customer_number, scope, on_behalf_of, operation=operation, target=target
    )
    outcome = await change(domains_runtime(request), context_for(request, customer_number, authority))
    return Changed(version=outcome.version, **authorized(authority).model_dump())
