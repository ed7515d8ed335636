"""Business-rule errors of the contacts domain (subclasses of the kernel's DomainError)."""

from __future__ import annotations

from shared.errors import Conflict


class DuplicateContact(Conflict):
    title = "Contact already exists"
