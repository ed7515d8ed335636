"""All routes of the identity service (thin: they translate HTTP to handler calls and back)."""

from __future__ import annotations

from fastapi import APIRouter

from services.identity.api import accounts, keys, password_resets, sessions, staff_users


def routers() -> list[APIRouter]:
    return [sessions.router(), password_resets.router(), accounts.router(), staff_users.router(), keys.router()]
