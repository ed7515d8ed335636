"""Routes of the contacts service: thin, they translate HTTP to commands and back."""

from __future__ import annotations

from fastapi import APIRouter

from services.contacts.api import address, authorizations, contacts


def routers() -> list[APIRouter]:
    return [contacts.router(), authorizations.router(), address.router()]
