"""Routes of the domains service: thin, they translate HTTP to commands and back."""

from __future__ import annotations

from fastapi import APIRouter

from services.domains.api import contracts, domains, hosting, passwords


def routers() -> list[APIRouter]:
    return [domains.router(), hosting.router(), contracts.router(), passwords.router()]
