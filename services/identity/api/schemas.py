"""Request and response bodies of the identity API (pydantic lives here, at the edge).

Secrets in requests are `SecretStr`, so that a stray repr or log of a body shows `**********`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr, StringConstraints

from services.identity.domain.staff import USERNAME_PATTERN
from shared.http.bodies import DisplayName, RequestBody

CustomerNumberField = Annotated[
    str, StringConstraints(pattern=r"^[0-9]{4,12}$"), Field(description="The customer number", examples=["100001"])
]
Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN), Field(examples=["jdoe"])]
# Long enough for any allowed password (128 characters of up to 4 bytes), short enough that
# nobody makes us hash a megabyte.
LoginPassword = Annotated[SecretStr, Field(min_length=1, max_length=1024)]


class _Body(RequestBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class CustomerLogin(_Body):
    customer_number: CustomerNumberField
    password: LoginPassword


class StaffLogin(_Body):
    username: Username
    password: LoginPassword


class RefreshRequest(_Body):
    refresh_token: SecretStr = Field(min_length=1, max_length=200)


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (the scheme's name, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str
    refresh_expires_at: datetime
    session_id: uuid.UUID


class PasswordResetRequest(_Body):
    customer_number: CustomerNumberField


class PasswordResetAccepted(BaseModel):
    status: Literal["accepted"] = "accepted"
    detail: str = (
        "If an account with this customer number exists, a one-time password is on its way to its "
        "reference e-mail address. It is valid for 10 minutes."
    )


class PasswordResetConfirmation(_Body):
    customer_number: CustomerNumberField
    one_time_password: SecretStr = Field(min_length=1, max_length=64)
    new_password: SecretStr = Field(min_length=1, max_length=1024)


class OwnPasswordChange(_Body):
    current_password: LoginPassword
    new_password: SecretStr = Field(min_length=1, max_length=1024)


class OpenAccountRequest(_Body):
    customer_number: CustomerNumberField
    name: DisplayName
    reference_email: EmailStr


class ChangeReferenceEmailRequest(_Body):
    reference_email: EmailStr


class Account(BaseModel):
    customer_number: str
    name: str
    reference_email: str
    password_set: bool
    etag: str = Field(
        description="The reference address's ETag (also the ETag header): send it as If-Match when changing the"
        " address, and a change made after your read gets 409 instead of being overwritten"
    )


StaffRoles = Annotated[list[Literal["support", "compliance", "admin"]], Field(min_length=1, max_length=3)]


class CreateStaffUserRequest(_Body):
    username: Username
    display_name: DisplayName
    roles: StaffRoles
    initial_password: SecretStr = Field(min_length=1, max_length=1024)


class ChangeStaffRolesRequest(_Body):
    roles: StaffRoles


class DeactivateStaffUserRequest(_Body):
    reason: str = Field(min_length=1, max_length=500, examples=["left the company on 2026-11-30"])


class SetStaffPasswordRequest(_Body):
    new_password: SecretStr = Field(min_length=1, max_length=1024)


class StaffUser(BaseModel):
    username: str
    display_name: str
    roles: list[str]
    active: bool


class StaffUserPage(BaseModel):
    items: list[StaffUser]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class Me(BaseModel):
    subject: str
    kind: str
    roles: list[str]
    session_id: str | None
    auth_time: datetime | None
