"""The person support is acting for, as an HTTP body names them (billing, contacts, ...)."""

from __future__ import annotations

import uuid
from typing import Self

from pydantic import ConfigDict, Field, model_validator

from shared.authorization.identifiers import RequesterKind
from shared.http.bodies import RequestBody


class RequesterIn(RequestBody):
    """Exactly one of: a contact id, or an e-mail address / phone number as support heard it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    contact_id: uuid.UUID | None = None
    email: str | None = Field(default=None, min_length=3, max_length=320)
    phone: str | None = Field(
        default=None,
        min_length=3,
        max_length=40,
        description="As heard: with its country code, or national (read as German; a number dialled"
        " abroad, like an Austrian 0664 …, also finds the contact with that national number abroad)",
    )

    @model_validator(mode="after")
    def exactly_one(self) -> Self:
        given = [v for v in (self.contact_id, self.email, self.phone) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of contact_id, email, phone")
        return self

    def as_heard(self) -> tuple[RequesterKind, str]:
        if self.contact_id is not None:
            return RequesterKind.CONTACT_ID, str(self.contact_id)
        if self.email is not None:
            return RequesterKind.EMAIL, self.email
        assert self.phone is not None
        return RequesterKind.PHONE, self.phone
