"""On what authority an event was recorded, read generically from its metadata (and data).

Services record *how* a decision was taken in the envelope's metadata; each names it a little
differently, and more services and keys will come. This module reads every spelling we know and
degrades to `unknown` for the rest, never failing on an event it does not understand:

    contacts   acting (account_owner | support | contact_via_support), basis
               (portal_account_owner | written_instruction_received | contact_request_via_support),
               on_behalf_of (<contact uuid>)
    billing    basis (portal_account_owner | contact_grant | best_knowledge), requested_by,
               on_behalf_of (<kind>:<value>), contact_id, action, outcome, grant_id, reasons,
               decided_at, ticket_reference; refusals: SupportRequestRefused (data)
    domains    acting (account_owner | support_on_behalf | staff_review), authorization
               (account_owner | allowed | best_knowledge | denied), scope, on_behalf_of, contact_id,
               grant_id, reasons; refusals: SupportRequestRefused; ContractListProvided (data)

The result is a `RecordedAuthority`: the basis (a grant, best knowledge, a refusal, the account
owner, support on the owner's written instruction, staff, the system), who asked, the contact they
were recognised as, the scope needed and the grant relied on *as the service recorded it*. The
audit model then checks it against its own replay of the authorizations (`questions.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.audit.events import AuditEvent
from shared.authorization.identifiers import Requester, RequesterKind
from shared.scopes import Scope


class Basis(StrEnum):
    GRANT = "grant"  # a grant of the requesting contact covered the action
    BEST_KNOWLEDGE = "best_knowledge"  # no grant, no official instruction: support acted to best knowledge
    REFUSED = "refused"  # support asked on someone's behalf and was refused
    ACCOUNT_OWNER = "account_owner"  # the customer itself (portal)
    WRITTEN_INSTRUCTION = "written_instruction"  # support, on the owner's written instruction
    STAFF = "staff"  # staff for themselves (review, administration), no requester
    SYSTEM = "system"  # the system on its own (expiry, jobs)
    UNKNOWN = "unknown"  # nothing we can read says


# Contacts lets a contact act via support only with the scope the command needs; it does not
# record the grant, so the audit finds it by replaying the decision for this scope.
_IMPLIED_SCOPES: Mapping[str, str] = {"CustomerAddressChanged": Scope.MANAGE_BILLING.value}
_CONTACTS_DEFAULT_SCOPE = Scope.MANAGE_CONTACTS.value

# The services' words for how they acted, ranked: the first that applies is the basis.
_REFUSED, _GRANT, _BEST, _CONTACT_VIA, _OWNER, _WRITTEN, _NONE = range(7)
_RANK: Mapping[str | None, int] = {
    "denied": _REFUSED,
    "refused": _REFUSED,
    "allowed": _GRANT,
    "contact_grant": _GRANT,
    "granted": _GRANT,
    "grant": _GRANT,
    "best_knowledge": _BEST,
    "contact_via_support": _CONTACT_VIA,
    "contact_request_via_support": _CONTACT_VIA,
    "account_owner": _OWNER,
    "portal_account_owner": _OWNER,
    "support": _WRITTEN,
    "written_instruction_received": _WRITTEN,
    "written_instruction": _WRITTEN,
}
_BASIS_OF_RANK = {
    _REFUSED: Basis.REFUSED,
    _GRANT: Basis.GRANT,
    _BEST: Basis.BEST_KNOWLEDGE,
    _CONTACT_VIA: Basis.GRANT,
    _OWNER: Basis.ACCOUNT_OWNER,
    _WRITTEN: Basis.WRITTEN_INSTRUCTION,
}
_REQUESTER_KINDS = frozenset(k.value for k in RequesterKind)
GRANT_REQUIRED = "grant_required"  # domains refuses credentials on best knowledge


@dataclass(frozen=True, slots=True)
class RecordedAuthority:
    basis: Basis
    acting: str | None  # the service's own word for how it acted
    on_behalf_of: str | None  # <kind>:<value>: contact_id:<uuid>, email:<address>, phone:<E.164>
    contact_id: str | None  # whom the requester was recognised as
    scope: str | None  # what the action needed
    grant_id: str | None  # the grant the service says it relied on
    recorded_outcome: str | None  # the decision's outcome as recorded: allowed | best_knowledge | denied
    reasons: tuple[str, ...]
    ticket_reference: str | None
    decided_at: str | None
    implied: bool = False  # the grant was not recorded but is implied by the rules (contacts)
    # How far the acting service's copy of contacts' authorizations was when it decided (stream,
    # version; ("", 0): it had applied nothing of the customer): billing records it
    # (`authorization_version`, null for nothing); None where nothing says.
    copy_version: tuple[str, int] | None = None

    @property
    def on_behalf(self) -> bool:
        return self.on_behalf_of is not None

    @property
    def requester(self) -> Requester | None:
        """The requester as a lookup key for the authorization model (None: not on behalf)."""
        if self.on_behalf_of is None:
            return None
        kind, _, value = self.on_behalf_of.partition(":")
        try:
            return Requester(RequesterKind(kind), value)
        except ValueError:
            return None


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _label(on_behalf_of: Any, contact_id: str | None) -> str | None:
    """`<kind>:<value>`; contacts writes a bare contact uuid."""
    text = _text(on_behalf_of)
    if text is None:
        return None
    kind, colon, value = text.partition(":")
    if colon and (kind in _REQUESTER_KINDS or kind == "customer"):  # (customer: the owner, in writing)
        return f"{kind}:{value}"
    try:
        return f"{RequesterKind.CONTACT_ID.value}:{uuid.UUID(text)}"
    except ValueError:
        return f"unknown:{text}"


def _first(source: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = source.get(key)
        if value is not None and value != "":
            return value
    return None


def classify(event: AuditEvent) -> RecordedAuthority:
    m = event.metadata
    d = event.data
    # A support-request event (a refusal, a contract list handed out) says it in its data;
    # the metadata wins where both say something.
    source: Mapping[str, Any] = {**d, **{k: v for k, v in m.items() if v is not None}} if "agent" in d else m
    acting = _text(m.get("acting"))
    basis_word = _text(m.get("basis"))
    outcome = _text(_first(source, "outcome", "authorization"))
    contact_id = _text(source.get("contact_id"))
    on_behalf_of = _label(source.get("on_behalf_of"), contact_id)
    grant_id = _text(source.get("grant_id"))
    scope = _text(_first(source, "scope", "action"))
    raw_reasons = source.get("reasons") or ()
    reasons = tuple(str(r) for r in raw_reasons) if isinstance(raw_reasons, list | tuple) else ()
    implied = False
    rank = min(_RANK.get(acting, _NONE), _RANK.get(basis_word, _NONE), _RANK.get(outcome, _NONE))
    if event.event_type.endswith("Refused"):
        rank = _REFUSED
    elif grant_id is not None:
        rank = min(rank, _GRANT)
    if rank > _OWNER and event.actor_kind == "customer":
        rank = _OWNER
    if rank == _CONTACT_VIA:
        implied = True
        scope = scope or _IMPLIED_SCOPES.get(event.event_type, _CONTACTS_DEFAULT_SCOPE)
    if rank < _NONE:
        basis = _BASIS_OF_RANK[rank]
    elif event.actor_kind == "system":
        basis = Basis.SYSTEM
    elif event.actor_kind == "staff":
        basis = Basis.STAFF
    else:
        basis = Basis.UNKNOWN
    if basis is Basis.REFUSED and outcome in (None, "refused"):
        outcome = "denied"
    if contact_id is None and on_behalf_of is not None and on_behalf_of.startswith("contact_id:"):
        contact_id = on_behalf_of.partition(":")[2]
    return RecordedAuthority(
        basis=basis,
        acting=acting or basis_word,
        on_behalf_of=on_behalf_of,
        contact_id=contact_id,
        scope=scope,
        grant_id=grant_id,
        recorded_outcome=_recorded_outcome(basis, outcome, reasons),
        reasons=reasons,
        ticket_reference=_text(_first(source, "ticket_reference", "ticket")),
        decided_at=_text(m.get("decided_at")),
        implied=implied,
        copy_version=_copy_version(m),
    )


def _copy_version(metadata: Mapping[str, Any]) -> tuple[str, int] | None:
    if "authorization_version" not in metadata:
        return None
    recorded = metadata["authorization_version"]
    if recorded is None:
        return "", 0
    if not isinstance(recorded, Mapping):
        return None
    stream_id, version = recorded.get("stream_id"), recorded.get("stream_version")
    if not isinstance(stream_id, str) or not isinstance(version, int) or isinstance(version, bool):
        return None
    return stream_id, version


def _recorded_outcome(basis: Basis, outcome: str | None, reasons: tuple[str, ...]) -> str | None:
    """The outcome of the *authorization decision* the service took, in `decide`'s words."""
    if basis is Basis.REFUSED:
        # domains refuses credentials on a best-knowledge decision: the decision itself said so.
        return "best_knowledge" if GRANT_REQUIRED in reasons else "denied"
    if basis is Basis.GRANT:
        return "allowed"
    if basis is Basis.BEST_KNOWLEDGE:
        return "best_knowledge"
    return outcome if outcome in ("allowed", "best_knowledge", "denied") else None
