"""Events of the identity service, published on `identity.events`.

No event carries a secret: no password, password hash, one-time password, token or token hash.
They say *that* something happened to an account, a staff user or a session.

Streams (every event's envelope carries a customer number; staff events carry `STAFF_CUSTOMER_NUMBER`):

    customer-account-<customer number>  CustomerAccountOpened, ReferenceEmailChanged,
                                        PasswordResetRequested, PasswordChanged
    staff-user-<user name>              StaffUserCreated, PasswordChanged
    session-<session id>                LoginSucceeded, RefreshTokenReuseDetected, SessionRevoked
    login-attempt-<attempt id>          LoginFailed, AccountThrottled

Sessions and failed attempts get streams of their own so that concurrent logins never contend
for one stream's version.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shared.envelope import DomainEvent
from shared.registry import EventRegistry

registry = EventRegistry()

# Staff users belong to no customer. Their events carry this customer number, which the
# provider's format (4 to 12 digits) can never produce, so no consumer mistakes it for a customer.
STAFF_CUSTOMER_NUMBER = "0"

SubjectKind = Literal["customer", "staff"]
LoginFailureReason = Literal["wrong_password", "no_password_set"]
ThrottleReason = Literal["progressive_delay", "hourly_limit"]
RevocationReason = Literal["logout", "password_changed", "refresh_token_reuse", "roles_changed", "deactivated"]
PasswordChangeMethod = Literal["one_time_password", "current_password", "set_by_admin", "development_seed"]


def account_stream(customer_number: str) -> str:
    return f"customer-account-{customer_number}"


def staff_stream(username: str) -> str:
    return f"staff-user-{username}"


def session_stream(session_id: uuid.UUID) -> str:
    return f"session-{session_id}"


def attempt_stream(attempt_id: uuid.UUID) -> str:
    return f"login-attempt-{attempt_id}"


@registry.register("CustomerAccountOpened", version=1)
@dataclass(frozen=True)
class CustomerAccountOpened(DomainEvent):
    """A customer exists from now on: the other services learn about customers from this event."""

    customer_number: str
    name: str
    reference_email: str


@registry.register("ReferenceEmailChanged", version=1)
@dataclass(frozen=True)
class ReferenceEmailChanged(DomainEvent):
    customer_number: str
    reference_email: str
    previous_email: str


@registry.register("PasswordResetRequested", version=1)
@dataclass(frozen=True)
class PasswordResetRequested(DomainEvent):
    """A one-time password was issued and mailed to `sent_to`; the code itself is not here."""

    customer_number: str
    sent_to: str
    expires_at: datetime


@registry.register("PasswordChanged", version=1)
@dataclass(frozen=True)
class PasswordChanged(DomainEvent):
    subject: str
    subject_kind: SubjectKind
    method: PasswordChangeMethod
    sessions_revoked: int


@registry.register("StaffUserCreated", version=1)
@dataclass(frozen=True)
class StaffUserCreated(DomainEvent):
    username: str
    display_name: str
    roles: tuple[str, ...]


@registry.register("StaffRolesChanged", version=1)
@dataclass(frozen=True)
class StaffRolesChanged(DomainEvent):
    username: str
    roles: tuple[str, ...]
    previous_roles: tuple[str, ...]


@registry.register("StaffUserDeactivated", version=1)
@dataclass(frozen=True)
class StaffUserDeactivated(DomainEvent):
    """The user can no longer log in (for good: the name stays taken, its history stays)."""

    username: str
    reason: str


@registry.register("LoginSucceeded", version=1)
@dataclass(frozen=True)
class LoginSucceeded(DomainEvent):
    subject: str
    subject_kind: SubjectKind
    session_id: uuid.UUID
    client_address: str | None


@registry.register("LoginFailed", version=1)
@dataclass(frozen=True)
class LoginFailed(DomainEvent):
    """A failed login of an existing account (failures for unknown names only reach the log)."""

    subject: str
    subject_kind: SubjectKind
    reason: LoginFailureReason
    client_address: str | None


@registry.register("AccountThrottled", version=1)
@dataclass(frozen=True)
class AccountThrottled(DomainEvent):
    """Failed logins crossed a threshold: from now on attempts are delayed (or refused for the hour)."""

    subject: str
    subject_kind: SubjectKind
    reason: ThrottleReason
    failures_in_window: int
    blocked_until: datetime


@registry.register("RefreshTokenReuseDetected", version=1)
@dataclass(frozen=True)
class RefreshTokenReuseDetected(DomainEvent):
    """A spent refresh token was presented again: someone holds a copy, so the session dies."""

    subject: str
    subject_kind: SubjectKind
    session_id: uuid.UUID
    client_address: str | None


@registry.register("SessionRevoked", version=1)
@dataclass(frozen=True)
class SessionRevoked(DomainEvent):
    subject: str
    subject_kind: SubjectKind
    session_id: uuid.UUID
    reason: RevocationReason
