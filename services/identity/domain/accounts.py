"""The customer account aggregate: state folded from its events, and the decisions on it.

A customer account is the customer number, the name and the reference e-mail address (where
one-time passwords go). Whether a password is set is not part of it: password hashes live in
identity's private credentials table, never in an event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.identity.domain.errors import AccountAlreadyOpened, ReferenceEmailChangedMeanwhile, UnknownAccount
from services.identity.domain.events import CustomerAccountOpened, ReferenceEmailChanged
from services.identity.domain.sessions import require_recent_login
from shared.content_tags import content_tag, still_as_read
from shared.envelope import DomainEvent


@dataclass(frozen=True)
class CustomerAccount:
    customer_number: str = ""
    name: str = ""
    reference_email: str = ""
    opened: bool = False
    reference_changes: int = 0  # how often the address was changed

    def reference_tag(self) -> str:
        """The reference address's ETag: If-Match with it refuses a change made after the read,
        also one that changed the address and back (so the count of changes, not the address alone)."""
        return content_tag(self.reference_email, str(self.reference_changes))


@dataclass(frozen=True)
class OpenCustomerAccount:
    customer_number: str
    name: str
    reference_email: str


@dataclass(frozen=True)
class ChangeReferenceEmail:
    customer_number: str
    reference_email: str
    # When the caller last proved who they are (the access token's auth_time).
    authenticated_at: datetime | None
    expected_tag: str | None = None  # If-Match: the address's tag as the caller read it


def normalise_email(address: str) -> str:
    """E-mail addresses compare case-insensitively in practice; we store them lower-case."""
    return address.strip().lower()


def evolve(state: CustomerAccount, event: DomainEvent) -> CustomerAccount:
    if isinstance(event, CustomerAccountOpened):
        return CustomerAccount(event.customer_number, event.name, event.reference_email, opened=True)
    if isinstance(event, ReferenceEmailChanged):
        return replace(state, reference_email=event.reference_email, reference_changes=state.reference_changes + 1)
    return state


def fold(events: Iterable[DomainEvent]) -> CustomerAccount:
    state = CustomerAccount()
    for event in events:
        state = evolve(state, event)
    return state


def decide_open(state: CustomerAccount, cmd: OpenCustomerAccount) -> list[DomainEvent]:
    if state.opened:
        raise AccountAlreadyOpened(f"customer {cmd.customer_number} already has an account")
    return [
        CustomerAccountOpened(
            customer_number=cmd.customer_number,
            name=cmd.name.strip(),
            reference_email=normalise_email(cmd.reference_email),
        )
    ]


def decide_change_email(
    state: CustomerAccount, cmd: ChangeReferenceEmail, now: datetime, recent_login: timedelta
) -> list[DomainEvent]:
    if not state.opened:
        raise UnknownAccount("no such customer account")
    # The reference address receives one-time passwords: whoever changes it can take the account over.
    require_recent_login(cmd.authenticated_at, now, recent_login, "Changing the reference e-mail address")
    if not still_as_read(cmd.expected_tag, state.reference_tag()):
        raise ReferenceEmailChangedMeanwhile("the reference e-mail address changed after it was read: read it again")
    email = normalise_email(cmd.reference_email)
    if email == state.reference_email:
        return []
    return [
        ReferenceEmailChanged(
            customer_number=state.customer_number, reference_email=email, previous_email=state.reference_email
        )
    ]
