"""Request and response bodies of the domains API (pydantic lives here, at the edge).

Names arrive as plain strings and are validated by the domain (`domain/names.py`, `urls.py`),
so every entry point refuses the same inputs with the same messages.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr

from shared.http.bodies import RequestBody

# Path parameters, described for the OpenAPI document; the routes parse and validate them
# (`domain/names.py`: 422 with the reason).
DomainName = Annotated[
    str, Path(description="A domain name booked here: Unicode or ASCII (xn--), any case", examples=["example.de"])
]
VhostName = Annotated[str, Path(description="An e-mail vhost: the domain or a host under it", examples=["example.de"])]
LocalPart = Annotated[str, Path(description="The mailbox's local part (before the @)", examples=["info"])]
SourceHost = Annotated[
    str, Path(description="The host redirected: the domain or a host under it", examples=["www.example.de"])
]


class Body(RequestBody):
    model_config = ConfigDict(extra="forbid")


class RegisterBody(Body):
    name: str = Field(min_length=1, max_length=1024, description="The domain name (Unicode or ASCII form)")


class CancelBody(Body):
    effective_on: date | None = Field(
        default=None, description="The last day of service (UTC); default: the last day of the current month"
    )


class VhostBody(Body):
    name: str = Field(min_length=1, max_length=1024, description="The domain itself or one of its subdomains")


class MailboxBody(Body):
    local_part: str = Field(min_length=1, max_length=64, description="The part before the @")
    owner_email: EmailStr = Field(
        description="Where the mailbox's owner receives the one-time link to choose the password"
    )


class PasswordLinkBody(Body):
    owner_email: EmailStr | None = Field(
        default=None, description="Where the new link goes; default: where the last link for this mailbox went"
    )


class RedirectBody(Body):
    target_url: str = Field(min_length=1, max_length=4096, description="An absolute http:// or https:// URL")
    permanent: bool = Field(default=True, description="301 (permanent) or 302 (temporary)")


class MailboxPasswordBody(Body):
    token: SecretStr = Field(min_length=20, max_length=200, description="The token from the e-mailed link")
    password: SecretStr = Field(min_length=12, max_length=128)


class Authorized(BaseModel):
    """How the command was authorized (also recorded in the events' metadata)."""

    authorization: str = Field(
        description="account_owner, allowed (a grant), best_knowledge or written_instruction (the owner's, by support)"
    )
    grant_id: uuid.UUID | None = None
    reasons: list[str] = Field(default_factory=list)


class Changed(Authorized):
    version: int = Field(description="The domain stream's version after the command")


class Registered(Changed):
    domain: str
    unicode_name: str


class MailboxCreatedOut(Changed):
    mailbox_id: uuid.UUID
    address: str
    password_link_sent_to: str


class FtpReissuedOut(Changed):
    sent_to: str = Field(description="account_owner or requesting_contact; the password is only in that e-mail")
    contact_id: uuid.UUID | None
    owner_notified: bool


class MailboxOut(BaseModel):
    address: str
    mailbox_id: uuid.UUID
    created_at: datetime | None = None
    password_set: bool | None = None


class VhostOut(BaseModel):
    name: str
    created_at: datetime | None = None
    mailboxes: list[MailboxOut]


class RedirectOut(BaseModel):
    source_host: str
    target_url: str
    permanent: bool
    set_at: datetime | None = None
    etag: str = Field(description="Send it as If-Match when changing this redirect: a change made since gets 409")


class FtpOut(BaseModel):
    username: str
    last_reissued_at: datetime | None = None


class DomainOut(BaseModel):
    domain: str
    unicode_name: str
    status: str = Field(description="active, cancellation_requested or ended")
    registered_at: datetime | None = None
    cancellation_requested_at: datetime | None = None
    cancellation_effective_on: date | None = None
    vhosts: list[VhostOut]
    redirects: list[RedirectOut]
    ftp: FtpOut | None


class ContractsOut(BaseModel):
    customer_number: str
    as_of: datetime
    domains: list[DomainOut]
    authorization: str


class KnownContact(BaseModel):
    contact_id: uuid.UUID
    name: str
    email: str
    phone: str | None
    organisation: str | None
    function: str | None
    added_at: datetime


class KnownContacts(BaseModel):
    customer_number: str
    contacts: list[KnownContact]
