"""The compliance HTTP API: the audit questions over the replayed history, for the `compliance` role.

A router factory; whoever mounts it provides the app (any service app, or a small one of its own)
with `app.state.runtime.verifier` (every service's runtime has it), and keeps an `AuditState`:

    state = AuditState(bootstrap)              # replays the four public topics
    await state.refresh()                      # at startup (and POST /replay later)
    app.include_router(compliance_router(state))

Routes (under `/api/compliance/v1`, bearer token with role `compliance` on every one):

    GET  /replay                                   what was replayed: events, offsets, duplicates, types
    POST /replay                                   read what was published since (incremental)
    GET  /replay/state-hash                        the model's determinism hash (computed on demand)
    GET  /customers/{n}/authorizations?at=         who held which scopes as of `at`
    GET  /customers/{n}/timeline?since=&until=&service=&limit=
    GET  /customers/{n}/authorization-changes      every change with decider and basis
    GET  /customers/{n}/checks?since=&until=       the checks support made
    GET  /customers/{n}/best-knowledge             actions done to best knowledge
    GET  /customers/{n}/export?format=csv|json|markdown
    GET  /best-knowledge?since=&until=             ... for every customer
    GET  /events/{event_id}/authority              on whose authority an action was done
    GET  /authority?object=&customer=              ... every action on an object (m@x.de, a domain)

Answers are as of the last replay (`GET /replay` says when); a route refreshes first when that
is older than `max_staleness_s`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime

from shared.audit import questions
from shared.audit.export import ReplaySource, customer_export, to_csv, to_json, to_markdown
from shared.audit.model import AuditModel
from shared.audit.questions import (
    AuthorityAnswer,
    AuthorizationsAsOf,
    CheckOut,
    TimelineEntry,
)
from shared.audit.replay import ReplayReport, TopicReader
from shared.auth.dependencies import CurrentPrincipal, ensure_role
from shared.auth.principal import Role
from shared.errors import InvalidRequest, NotFound
from shared.http.context import CustomerNumber
from shared.http.problems import Problem
from shared.kafka import SERVICES

PREFIX = "/api/compliance/v1"


class AuditState:
    """The replayed model the routes answer from, refreshed incrementally from the topics."""

    def __init__(self, bootstrap: str, topics: list[str] | None = None, *, max_staleness_s: float | None = 5.0) -> None:
        self.reader = TopicReader(bootstrap, topics)
        self.model = AuditModel()
        self.max_staleness_s = max_staleness_s
        self.refreshed_at: datetime | None = None
        self.last_report: ReplayReport | None = None
        self.end_offsets: dict[str, int] = {}
        self._refreshed_monotonic = -1e18
        self._lock = asyncio.Lock()

    async def refresh(self) -> ReplayReport:
        async with self._lock:
            report = await self.reader.read_into(self.model)
            self.last_report = report
            self.end_offsets = report.end_offsets
            self.refreshed_at = datetime.now(UTC)
            self._refreshed_monotonic = time.monotonic()
            return report

    async def fresh_model(self) -> AuditModel:
        if self.max_staleness_s is not None and time.monotonic() - self._refreshed_monotonic > self.max_staleness_s:
            await self.refresh()
        return self.model

    def source(self, state_hash: str | None = None) -> ReplaySource:
        return ReplaySource(list(self.reader.topics), dict(self.end_offsets), state_hash)


@dataclass(frozen=True, slots=True)
class ReplayStatus:
    topics: list[str]
    refreshed_at: datetime | None
    events: int
    customers: int
    duplicates_dropped: int
    conflicting_duplicates: list[str]
    malformed_records: list[str]
    end_offsets: dict[str, int]
    event_types: dict[str, int] = field(default_factory=dict)  # "<service>/<type>" -> events


@dataclass(frozen=True, slots=True)
class StateHash:
    state_hash: str
    events: int


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"
    MARKDOWN = "markdown"


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        401: "Missing or invalid bearer token",
        403: "Only the compliance role may ask",
        404: "No such customer or event in the replayed history",
        422: "Invalid parameters",
    }
    return {c: {"model": Problem, "description": descriptions[c]} for c in (401, 403, 422, *codes)}


def _status(state: AuditState) -> ReplayStatus:
    model = state.model
    return ReplayStatus(
        topics=list(state.reader.topics),
        refreshed_at=state.refreshed_at,
        events=model.event_count,
        customers=len(model.customer_numbers),
        duplicates_dropped=model.stats.duplicates,
        conflicting_duplicates=list(model.stats.conflicting_duplicates),
        malformed_records=list(model.stats.malformed),
        end_offsets=dict(state.end_offsets),
        event_types={f"{s}/{t}": n for (s, t), n in model.type_counts().items()},
    )


def _known(model: AuditModel, customer_number: str) -> None:
    if not model.history(customer_number).events:
        raise NotFound("no events of this customer in the replayed history")


# At module level: the routes' annotations are strings (postponed evaluation), which FastAPI resolves
# in the module's namespace; aliases local to `compliance_router` stayed unresolved, and the OpenAPI
# document (and a `since`/`until` given in a request) failed with a 500.
Since = Annotated[AwareDatetime | None, Query(description="From this instant (RFC 3339, with offset)")]
Until = Annotated[AwareDatetime | None, Query(description="Up to this instant (RFC 3339, with offset)")]


def compliance_router(state: AuditState, *, prefix: str = PREFIX) -> APIRouter:
    r = APIRouter(prefix=prefix, tags=["compliance"])

    @r.get("/replay", response_model=ReplayStatus, responses=_problems(), summary="What the answers are based on")
    async def replay_status(principal: CurrentPrincipal) -> ReplayStatus:
        ensure_role(principal, Role.COMPLIANCE)
        return _status(state)

    @r.post("/replay", response_model=ReplayStatus, responses=_problems(), summary="Read what was published since")
    async def replay_refresh(principal: CurrentPrincipal) -> ReplayStatus:
        ensure_role(principal, Role.COMPLIANCE)
        await state.refresh()
        return _status(state)

    @r.get(
        "/replay/state-hash",
        response_model=StateHash,
        responses=_problems(),
        summary="SHA-256 over the canonical model (the same for every replay of the same events)",
    )
    async def state_hash(principal: CurrentPrincipal) -> StateHash:
        ensure_role(principal, Role.COMPLIANCE)
        model = await state.fresh_model()
        return StateHash(model.state_hash(), model.event_count)

    @r.get(
        "/customers/{customer_number}/authorizations",
        response_model=AuthorizationsAsOf,
        responses=_problems(404),
        summary="Who held which scopes as of `at` (default: now), and the official instruction",
    )
    async def authorizations(
        customer_number: CustomerNumber,
        principal: CurrentPrincipal,
        at: Annotated[AwareDatetime | None, Query(description="The instant (RFC 3339, with offset)")] = None,
    ) -> AuthorizationsAsOf:
        ensure_role(principal, Role.COMPLIANCE)
        model = await state.fresh_model()
        _known(model, customer_number)
        return questions.authorizations_as_of(model, customer_number, at or datetime.now(UTC))

    @r.get(
        "/customers/{customer_number}/timeline",
        response_model=list[TimelineEntry],
        responses=_problems(404),
        summary="Every event of the customer in every service, in order, with actor and basis",
    )
    async def timeline(
        customer_number: CustomerNumber,
        principal: CurrentPrincipal,
        request: Request,
        response: Response,
        since: Since = None,
        until: Until = None,
        service: Annotated[list[str] | None, Query(description=f"Only these services ({', '.join(SERVICES)})")] = None,
        limit: Annotated[int, Query(ge=1, le=100_000, description="At most this many entries (a page)")] = 10_000,
        after: Annotated[
            str | None, Query(max_length=64, description="Only entries after this event id (the last of a page)")
        ] = None,
    ) -> list[TimelineEntry]:
        ensure_role(principal, Role.COMPLIANCE)
        model = await state.fresh_model()
        _known(model, customer_number)
        services = service or []
        if unknown := sorted(set(services) - set(SERVICES)):
            raise InvalidRequest(f"service: no service {', '.join(unknown)} (there are {', '.join(SERVICES)})")
        entries = questions.timeline(
            model, customer_number, since=since, until=until, services=services, limit=limit + 1, after=after
        )
        if len(entries) > limit:  # another page follows: say where (RFC 8288), as `after` the last of this one
            entries = entries[:limit]
            following = request.url.include_query_params(after=entries[-1].event.event_id)
            response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
        return entries

    @r.get(
        "/customers/{customer_number}/authorization-changes",
        response_model=list[TimelineEntry],
        responses=_problems(404),
        summary="Every change to the customer's contacts and authorizations, with decider and basis",
    )
    async def authorization_changes(
        customer_number: CustomerNumber, principal: CurrentPrincipal
    ) -> list[TimelineEntry]:
        ensure_role(principal, Role.COMPLIANCE)
        model = await state.fresh_model()
        _known(model, customer_number)
        return questions.authorization_changes(model, customer_number)

    @r.get(
        "/customers/{customer_number}/checks",
        response_model=list[CheckOut],
        responses=_problems(404),
        summary="The authorization checks support made for the customer",
    )
    async def checks(
        customer_number: CustomerNumber, principal: CurrentPrincipal, since: Since = None, until: Until = None
    ) -> list[CheckOut]:
        ensure_role(principal, Role.COMPLIANCE)
        model = await state.fresh_model()
        _known(model, customer_number)
        return questions.checks(model, customer_number, since=since, until=until)

    @r.get(
        "/customers/{customer_number}/best-knowledge",
        response_model=list[AuthorityAnswer],
        responses=_problems(404),
        summary="The customer's actions done to best knowledge rather than on a grant",
    )
    async def customer_best_knowledge(
        customer_number: CustomerNumber, principal: CurrentPrincipal, since: Since = None, until: Until = None
    ) -> list[AuthorityAnswer]:
        ensure_role(principal, Role.COMPLIANCE)
        model = await state.fresh_model()
        _known(model, customer_number)
        return questions.best_knowledge_actions(model, customer_number=customer_number, since=since, until=until)

    @r.get(
        "/best-knowledge",
        response_model=list[AuthorityAnswer],
        responses=_problems(),
        summary="Every action (all customers) done to best knowledge rather than on a grant",
    )
    async def best_knowledge(
        principal: CurrentPrincipal, since: Since = None, until: Until = None
    ) -> list[AuthorityAnswer]:
        ensure_role(principal, Role.COMPLIANCE)
        model = await state.fresh_model()
        return questions.best_knowledge_actions(model, since=since, until=until)

    @r.get(
        "/events/{event_id}/authority",
        response_model=AuthorityAnswer,
        responses=_problems(404),
        summary="On whose authority an action was done: the grant relied on, the replayed decision, the checks",
    )
    async def authority_of_event(
        event_id: Annotated[str, Path(description="The event's id (`ce_id` on Kafka)")], principal: CurrentPrincipal
    ) -> AuthorityAnswer:
        ensure_role(principal, Role.COMPLIANCE)
        model = await state.fresh_model()
        answer = questions.authority_of_event(model, event_id.strip().lower())
        if answer is None:
            raise NotFound("no such event in the replayed history")
        return answer

    @r.get(
        "/authority",
        response_model=list[AuthorityAnswer],
        responses=_problems(),
        summary="On whose authority every action on an object was done (a mailbox address, a domain, ...)",
    )
    async def authority_of_object(
        principal: CurrentPrincipal,
        object: Annotated[str, Query(min_length=1, max_length=400, description="e.g. m@x.de or x.de")],
        customer: Annotated[str | None, Query(pattern=r"^[0-9]{1,12}$")] = None,
    ) -> list[AuthorityAnswer]:
        ensure_role(principal, Role.COMPLIANCE)
        model = await state.fresh_model()
        return questions.authority_of_object(model, object, customer_number=customer)

    @r.get(
        "/customers/{customer_number}/export",
        responses={
            **_problems(404),
            200: {
                "description": "The history with provenance",
                "content": {"text/csv": {}, "application/json": {}, "text/markdown": {}},
            },
        },
        summary="The customer's history as CSV, JSON or a Markdown report",
    )
    async def export(
        customer_number: CustomerNumber,
        principal: CurrentPrincipal,
        format: ExportFormat = ExportFormat.JSON,
    ) -> Response:
        ensure_role(principal, Role.COMPLIANCE)
        model = await state.fresh_model()
        _known(model, customer_number)
        # The hash of the whole model the export was read from, as the CLI's export gives it: whoever
        # replays the same offsets can show they read the same history.
        result = customer_export(model, customer_number, datetime.now(UTC), state.source(model.state_hash()))
        name = f"customer-{customer_number}-history"
        if format is ExportFormat.CSV:
            body, media, suffix = to_csv(result).encode(), "text/csv; charset=utf-8", "csv"
        elif format is ExportFormat.MARKDOWN:
            body, media, suffix = to_markdown(result).encode(), "text/markdown; charset=utf-8", "md"
        else:
            body, media, suffix = to_json(result), "application/json", "json"
        return Response(
            body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}.{suffix}"'}
        )

    return r
