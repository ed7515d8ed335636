"""The authenticated caller of a request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.envelope import Actor, ActorKind


class PrincipalKind(StrEnum):
    CUSTOMER = "customer"
    STAFF = "staff"


class Role(StrEnum):
    CUSTOMER = "customer"
    SUPPORT = "support"
    COMPLIANCE = "compliance"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str  # the customer number, or the staff user's name
    kind: PrincipalKind
    roles: frozenset[Role]
    session_id: str | None = None
    auth_time: datetime | None = None

    @property
    def actor(self) -> Actor:
        kind = ActorKind.CUSTOMER if self.kind is PrincipalKind.CUSTOMER else ActorKind.STAFF
        return Actor(kind, self.subject)

    def has_role(self, *roles: Role) -> bool:
        return any(r in self.roles for r in roles)

    def is_customer(self, customer_number: str) -> bool:
        return self.kind is PrincipalKind.CUSTOMER and self.subject == customer_number
