"""On whose authority a command runs, and whether support may act on a requester's word.

Two ways to act:

    account owner        the customer's own token (portal)        may do everything
    support on behalf    a support agent's token, naming who       needs the operation's scope,
                         asked (contact id, or e-mail / phone       decided by `shared.authorization
                         as heard)                                  .decide` on domains' own copy

`judge` turns the shared decision into a verdict for one operation:

* allowed (a grant covers the scope) -> go ahead, naming the grant;
* best_knowledge (no official instruction, no explicit withdrawal) -> go ahead, and say so;
  except where a secret is mailed (access credentials, a mailbox's password link, also to an
  address the caller names): only on a grant (`grant_required`), since "best knowledge" of an
  unknown caller is exactly what social engineering exploits;
* denied -> refused, with the decision's reasons.

`Authority.metadata()` is what every event of the command carries in its envelope: who asked,
on what authority, relying on which grant (or on best knowledge).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.authorization.decision import Decision, Outcome
from shared.authorization.identifiers import Requester
from shared.envelope import Actor
from shared.scopes import Scope

GRANT_REQUIRED = "grant_required"
GRANT_REQUIRED_MESSAGE = (
    "access credentials and password links are sent only at the request of a contact holding a grant,"
    " never to best knowledge"
)
SCOPES_NEEDING_A_GRANT = frozenset({Scope.REQUEST_CREDENTIALS})


class ActingKind(StrEnum):
    ACCOUNT_OWNER = "account_owner"
    SUPPORT_ON_BEHALF = "support_on_behalf"
    STAFF_REVIEW = "staff_review"  # compliance reading, for itself (no command, no requester)
    WRITTEN_INSTRUCTION = "written_instruction"  # support carrying out the owner's signed instruction


def requester_label(requester: Requester) -> str:
    return f"{requester.kind.value}:{requester.value}"


@dataclass(frozen=True, slots=True)
class CopyVersion:
    """The contacts stream and version domains' copy had applied for the customer when it
    decided (0: none), recorded with the decision so that compliance can replay it on exactly that."""

    stream_id: str
    stream_version: int

    def as_dict(self) -> dict[str, Any]:
        return {"stream_id": self.stream_id, "stream_version": self.stream_version}


@dataclass(frozen=True, slots=True)
class Authority:
    acting: ActingKind
    actor: Actor  # who did it: the customer, or the support agent
    scope: Scope
    on_behalf_of: Requester | None = None  # who asked (support only)
    decision: Decision | None = None  # the shared decision support relied on
    copy_version: CopyVersion | None = None  # how far domains' copy was when it decided
    document_reference: str | None = None  # the owner's written instruction carried out

    @classmethod
    def account_owner(cls, actor: Actor, scope: Scope) -> Authority:
        return cls(ActingKind.ACCOUNT_OWNER, actor, scope)

    @classmethod
    def staff_review(cls, actor: Actor, scope: Scope) -> Authority:
        return cls(ActingKind.STAFF_REVIEW, actor, scope)

    @classmethod
    def owners_written_instruction(cls, actor: Actor, scope: Scope, document_reference: str) -> Authority:
        """Support carrying out the account owner's written instruction: the owner's own authority."""
        return cls(ActingKind.WRITTEN_INSTRUCTION, actor, scope, document_reference=document_reference)

    @property
    def for_the_owner(self) -> bool:
        """The owner's own authority (in the portal, or in writing through support)."""
        return self.acting in (ActingKind.ACCOUNT_OWNER, ActingKind.WRITTEN_INSTRUCTION)

    @property
    def contact_id(self) -> uuid.UUID | None:
        return self.decision.contact_id if self.decision is not None else None

    @property
    def grant_id(self) -> uuid.UUID | None:
        return self.decision.grant_id if self.decision is not None else None

    @property
    def basis(self) -> str:
        """account_owner, allowed or best_knowledge."""
        return self.acting.value if self.decision is None else self.decision.outcome.value

    def metadata(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"acting": self.acting.value, "authorization": self.basis, "scope": self.scope.value}
        if self.on_behalf_of is not None:
            facts["on_behalf_of"] = requester_label(self.on_behalf_of)
        if self.decision is not None:
            facts["contact_id"] = str(self.contact_id) if self.contact_id else None
            facts["grant_id"] = str(self.grant_id) if self.grant_id else None
            facts["reasons"] = list(self.decision.codes)
        if self.copy_version is not None:
            facts["authorization_version"] = self.copy_version.as_dict()
        if self.document_reference is not None:
            facts["document_reference"] = self.document_reference
        return facts


@dataclass(frozen=True, slots=True)
class Refusal:
    scope: Scope
    decision: Decision
    codes: tuple[str, ...]
    messages: tuple[str, ...]
    copy_version: CopyVersion | None = None


def judge(
    actor: Actor,
    requester: Requester,
    scope: Scope,
    decision: Decision,
    copy_version: CopyVersion | None = None,
    *,
    mails_a_secret: bool = False,
) -> Authority | Refusal:
    """Whether support may do an operation needing `scope` at `requester`'s request;
    `mails_a_secret`: the operation mails something that opens an account (a password link)."""
    needs_a_grant = mails_a_secret or scope in SCOPES_NEEDING_A_GRANT
    if decision.outcome is Outcome.ALLOWED or (decision.outcome is Outcome.BEST_KNOWLEDGE and not needs_a_grant):
        return Authority(ActingKind.SUPPORT_ON_BEHALF, actor, scope, requester, decision, copy_version)
    codes = decision.codes
    messages = tuple(r.message for r in decision.reasons)
    if decision.outcome is Outcome.BEST_KNOWLEDGE:
        codes = (GRANT_REQUIRED, *codes)
        messages = (GRANT_REQUIRED_MESSAGE, *messages)
    return Refusal(scope, decision, codes, messages, copy_version)
