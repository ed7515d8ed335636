"""Who may have what done for which customer: the consumer-side authorization model.

Built from `contacts.events` (see `contract` for the event data), the same way in every service:

    AuthorizationProjection   the read model in PostgreSQL (own store in contacts, Kafka elsewhere)
    SqlAuthorizationReader    views of those tables as of an instant
    AuthorizationMemory       the same model as an in-memory fold (reference and fast local copy)
    decide(view, action, at)  the pure decision: allowed / denied / best_knowledge, with reasons

A consumer such as domains does:

    view = await reader.view(customer_number, Requester.heard(RequesterKind.EMAIL, text), now)
    decision = decide(view, Scope.CHANGE_DNS, now)
"""

from shared.authorization.contract import GrantBasis, OrganisationKind, RemovalReason
from shared.authorization.decision import Decision, Outcome, Reason, ReasonCode, decide
from shared.authorization.identifiers import (
    InvalidIdentifier,
    Requester,
    RequesterKind,
    normalise_email,
    normalise_phone,
)
from shared.authorization.memory import AuthorizationMemory
from shared.authorization.model import (
    AuthorizationsAt,
    AuthorizationView,
    ContactRecord,
    GrantRecord,
    GrantStatus,
    Holder,
    InstructionState,
)
from shared.authorization.projection import AuthorizationProjection
from shared.authorization.queries import AuthorizationReader, SqlAuthorizationReader

__all__ = [
    "AuthorizationMemory",
    "AuthorizationProjection",
    "AuthorizationReader",
    "AuthorizationView",
    "AuthorizationsAt",
    "ContactRecord",
    "Decision",
    "GrantBasis",
    "GrantRecord",
    "GrantStatus",
    "Holder",
    "InstructionState",
    "InvalidIdentifier",
    "OrganisationKind",
    "Outcome",
    "Reason",
    "ReasonCode",
    "RemovalReason",
    "Requester",
    "RequesterKind",
    "SqlAuthorizationReader",
    "decide",
    "normalise_email",
    "normalise_phone",
]
