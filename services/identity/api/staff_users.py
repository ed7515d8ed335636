"""Routes for staff users: admins create them, change roles, set a password, deactivate; admins and
compliance read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from services.identity.api.edge import AUTH_PROBLEMS, live_identity
from services.identity.api.schemas import (
    ChangeStaffRolesRequest,
    CreateStaffUserRequest,
    DeactivateStaffUserRequest,
    SetStaffPasswordRequest,
    StaffUser,
    StaffUserPage,
)
from services.identity.domain import staff
from services.identity.domain.events import STAFF_CUSTOMER_NUMBER
from services.identity.handlers import accounts as account_handlers
from services.identity.handlers import staff_users as handlers
from services.identity.runtime import IdentityRuntime
from shared.auth import Role
from shared.auth.dependencies import CurrentPrincipal, ensure_role
from shared.auth.principal import Principal
from shared.envelope import EventContext
from shared.http.context import event_context
from shared.http.problems import Problem

Username = Annotated[
    str,
    Path(pattern=staff.USERNAME_PATTERN, max_length=64, description="The staff user's login name", examples=["jdoe"]),
]

NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"model": Problem, "description": "No such staff user"}}
DEACTIVATED: dict[int | str, dict[str, object]] = {409: {"model": Problem, "description": "Deactivated"}}


def _user(user: staff.StaffUser) -> StaffUser:
    return StaffUser(
        username=user.username,
        display_name=user.display_name,
        roles=sorted(r.value for r in user.roles),
        active=user.active,
    )


async def _reader(request: Request, principal: Principal) -> IdentityRuntime:
    # Who has which staff role is part of what compliance audits.
    ensure_role(principal, Role.ADMIN, Role.COMPLIANCE)
    return await live_identity(request, principal)


async def _admin(request: Request, principal: Principal) -> tuple[IdentityRuntime, EventContext, staff.AdminAct]:
    ensure_role(principal, Role.ADMIN)
    identity = await live_identity(request, principal)
    context = event_context(request, STAFF_CUSTOMER_NUMBER, principal.actor)
    act = staff.AdminAct(principal.subject, principal.auth_time, context.occurred_at, identity.settings.recent_login)
    return identity, context, act


def router() -> APIRouter:
    api = APIRouter(prefix="/api/identity/v1/staff-users", tags=["staff users"])

    @api.post(
        "",
        status_code=201,
        response_model=StaffUser,
        responses={**AUTH_PROBLEMS, 409: {"model": Problem, "description": "Already exists"}},
        summary="Create a staff user with roles support, compliance and/or admin (admin, login within 10 minutes)",
    )
    async def create_staff_user(
        body: CreateStaffUserRequest, principal: CurrentPrincipal, request: Request
    ) -> StaffUser:
        identity, context, act = await _admin(request, principal)
        cmd = staff.CreateStaffUser(body.username, body.display_name, frozenset(Role(r) for r in body.roles))
        password = body.initial_password.get_secret_value()
        return _user(await account_handlers.create_staff_user(identity, cmd, password, context, act))

    @api.get(
        "",
        response_model=StaffUserPage,
        responses=AUTH_PROBLEMS,
        summary="Staff users in name order, with their roles and whether active (admin, compliance)",
    )
    async def list_staff_users(
        principal: CurrentPrincipal,
        request: Request,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(pattern=staff.USERNAME_PATTERN, max_length=64)] = None,
    ) -> StaffUserPage:
        identity = await _reader(request, principal)
        users, next_cursor = await handlers.list_staff_users(identity, after=cursor, limit=limit)
        return StaffUserPage(items=[_user(u) for u in users], next_cursor=next_cursor)

    @api.get(
        "/{username}",
        response_model=StaffUser,
        responses={**AUTH_PROBLEMS, **NOT_FOUND},
        summary="A staff user: name, roles, whether active (admin, compliance)",
    )
    async def get_staff_user(username: Username, principal: CurrentPrincipal, request: Request) -> StaffUser:
        identity = await _reader(request, principal)
        return _user(await handlers.view_staff_user(identity, username))

    @api.put(
        "/{username}/roles",
        response_model=StaffUser,
        responses={**AUTH_PROBLEMS, **NOT_FOUND, **DEACTIVATED},
        summary="Replace a staff user's roles (admin, login within 10 minutes); ends the user's sessions",
        description="403 for an admin removing their own admin role, or without a recent login.",
    )
    async def change_roles(
        username: Username, body: ChangeStaffRolesRequest, principal: CurrentPrincipal, request: Request
    ) -> StaffUser:
        identity, context, act = await _admin(request, principal)
        cmd = staff.ChangeStaffRoles(username, frozenset(Role(r) for r in body.roles))
        return _user(await handlers.change_roles(identity, cmd, act, context))

    @api.put(
        "/{username}/password",
        status_code=204,
        responses={**AUTH_PROBLEMS, **NOT_FOUND, **DEACTIVATED},
        summary="Set a new password for a staff user who forgot theirs (admin, login within 10 minutes)",
        description="Ends the user's sessions. 403 for one's own password (change it with the current one).",
    )
    async def set_password(
        username: Username, body: SetStaffPasswordRequest, principal: CurrentPrincipal, request: Request
    ) -> Response:
        identity, context, act = await _admin(request, principal)
        await handlers.set_password(identity, username, body.new_password.get_secret_value(), act, context)
        return Response(status_code=204)

    @api.post(
        "/{username}/deactivation",
        response_model=StaffUser,
        responses={**AUTH_PROBLEMS, **NOT_FOUND},
        summary="Deactivate a staff user for good (admin): no more logins, every session ended",
        description="Asking again answers the same. 403 for deactivating oneself.",
    )
    async def deactivate(
        username: Username, body: DeactivateStaffUserRequest, principal: CurrentPrincipal, request: Request
    ) -> StaffUser:
        identity, context, act = await _admin(request, principal)
        cmd = staff.DeactivateStaffUser(username, body.reason)
        return _user(await handlers.deactivate(identity, cmd, act, context))

    return api
