"""Request and response bodies of the contacts API (pydantic lives here, at the edge)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class AddContactBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+()./ -]{3,40}$")
    organisation: str | None = Field(default=None, max_length=200)
    function: str | None = Field(default=None, max_length=200)


class ContactCreated(BaseModel):
    contact_id: uuid.UUID
    version: int
