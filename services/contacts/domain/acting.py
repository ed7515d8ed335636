"""Who takes a decision about contacts and authorizations, and on what basis.

Contact persons have no login of their own. They act through support: a support agent who
serves a contact's request names that contact (`on_behalf_of`), and the decision is the
contact's, within the contact's own scopes. So there are three ways to act:

    account owner        the customer's own token (portal)           may do everything
    support              a staff token, on the owner's written        may do everything
                         instruction received by support
    contact via support  a staff token naming the contact             needs "contacts:manage";
                                                                      grants and revokes only scopes
                                                                      it holds, and changes or
                                                                      removes only contacts whose
                                                                      scopes it holds all of

The event data names the decider (`granted_by`, ...); the envelope names who recorded it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from shared.authorization.contract import GrantBasis


class ActingKind(StrEnum):
    ACCOUNT_OWNER = "account_owner"
    SUPPORT = "support"
    CONTACT_VIA_SUPPORT = "contact_via_support"


_BASIS = {
    ActingKind.ACCOUNT_OWNER: GrantBasis.PORTAL_ACCOUNT_OWNER,
    ActingKind.SUPPORT: GrantBasis.WRITTEN_INSTRUCTION,
    ActingKind.CONTACT_VIA_SUPPORT: GrantBasis.CONTACT_VIA_SUPPORT,
}


@dataclass(frozen=True, slots=True)
class Acting:
    kind: ActingKind
    decider: str  # customer:<n>, staff:<name> or contact:<uuid>
    contact_id: uuid.UUID | None = None

    @property
    def basis(self) -> GrantBasis:
        return _BASIS[self.kind]

    @classmethod
    def account_owner(cls, customer_number: str) -> Acting:
        return cls(ActingKind.ACCOUNT_OWNER, f"customer:{customer_number}")

    @classmethod
    def support(cls, agent: str) -> Acting:
        return cls(ActingKind.SUPPORT, f"staff:{agent}")

    @classmethod
    def contact(cls, contact_id: uuid.UUID) -> Acting:
        return cls(ActingKind.CONTACT_VIA_SUPPORT, f"contact:{contact_id}", contact_id)
