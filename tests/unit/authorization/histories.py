"""Generated histories of contacts, grants, revocations and instruction changes (for property tests).

Operations are interpreted through the real, pure contacts domain (so every history is one the
service could have produced); operations the domain refuses are skipped. The result is the list
of recorded events, as the store would hand them to projections.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from services.contacts.domain import authorizations as grants
from services.contacts.domain import contacts
from services.contacts.domain.acting import Acting
from services.contacts.domain.events import registry
from shared.authorization.identifiers import Requester, RequesterKind
from shared.envelope import Actor, ActorKind, DomainEvent, RecordedEvent
from shared.errors import DomainError
from shared.scopes import Scope

START = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
SCOPES = list(Scope)
EMAILS = [f"person{i}@example.org" for i in range(40)]
# Two numbers abroad that a national number heard here also names (the reading of a caller from
# abroad, `abroad_match`): "030 555001" names +4330555001 while no contact has +4930555001.
PHONES = [*(f"030 55500{i}" for i in range(6)), "+43 30 555001", "+43 30 555002", "+39 030 555003"]

# For property tests that run histories through PostgreSQL: hypothesis draws a seed, which is the
# whole input, so there is no shrinking (replaying thousands of events through the database
# would take longer than it helps); a failure prints the seed to reproduce it.
seeded = settings(
    max_examples=2,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# (kind, a, b, c, minutes): meaning depends on kind, see History.apply.
Op = tuple[int, int, int, int, int]

operations = st.tuples(
    st.integers(0, 9), st.integers(0, 50), st.integers(0, 50), st.integers(0, 511), st.integers(0, 90)
)


def random_ops(rng: random.Random, count: int) -> list[Op]:
    """Many operations cheaply (hypothesis draws the seed; lists of thousands are slow to draw)."""
    # Weighted towards grants and revocations: that is what the as-of answer is about.
    kinds = [0, 0, 1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 6, 7, 8, 9]
    return [
        (rng.choice(kinds), rng.randint(0, 50), rng.randint(0, 50), rng.randint(0, 511), rng.randint(0, 30))
        for _ in range(count)
    ]


@dataclass
class History:
    customers: list[str]
    rng_ids: int = 0
    now: datetime = START
    states: dict[str, contacts.CustomerContacts] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    events: list[RecordedEvent] = field(default_factory=list)
    contact_ids: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    grant_ids: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)  # what the domain said no to, by error

    def _id(self) -> uuid.UUID:
        self.rng_ids += 1
        return uuid.UUID(int=self.rng_ids)

    def _record(self, n: str, new: list[DomainEvent], acting: Acting) -> None:
        state = self.states.get(n, contacts.CustomerContacts())
        for event in new:
            state = contacts.evolve(state, event)
            self.versions[n] = self.versions.get(n, 0) + 1
            self.events.append(
                RecordedEvent(
                    event_id=self._id(),
                    event_type=event.event_type,
                    schema_version=event.schema_version,
                    stream_id=contacts.stream_id(n),
                    stream_version=self.versions[n],
                    customer_number=n,
                    occurred_at=self.now,
                    actor=Actor(ActorKind.CUSTOMER, n),
                    correlation_id=self._id(),
                    causation_id=None,
                    data=registry.encode(event),
                    metadata={"acting": acting.kind.value},
                )
            )
        self.states[n] = state

    def apply(self, op: Op) -> None:
        kind, a, b, c, minutes = op
        self.now += timedelta(minutes=minutes)
        n = self.customers[a % len(self.customers)]
        state = self.states.get(n, contacts.CustomerContacts())
        # Mostly pick current contacts and open grants, so that most operations take effect.
        known = self.contact_ids.setdefault(n, [])
        people = [p for p in known if not state.contacts[p].removed] or known
        every_grant = self.grant_ids.setdefault(n, [])
        granted = [g for g in every_grant if not state.grants[g].revoked] or every_grant
        owner = Acting.account_owner(n)
        acting = owner
        if people and c % 9 == 0:
            acting = Acting.contact(people[b % len(people)])  # sometimes a contact acts via support
        now = self.now
        try:
            if kind <= 1:
                cid = self._id()
                phone = PHONES[c % len(PHONES)] if c % 3 else None
                cmd = contacts.AddContact(n, f"P{b}", EMAILS[b % len(EMAILS)], phone)
                self._record(n, contacts.decide_add_contact(state, cmd, cid, acting, now), acting)
                known.append(cid)
            elif kind == 2 and people:
                cid = people[b % len(people)]
                phone = PHONES[(c + 1) % len(PHONES)] if c % 2 else None
                details = contacts.ContactDetails(f"P{b}", EMAILS[(b + c) % len(EMAILS)], phone)
                cmd2 = contacts.ChangeContactDetails(cid, details)
                self._record(n, contacts.decide_change_details(state, cmd2, acting, now), acting)
            elif kind in (3, 4, 5) and people:
                chosen = frozenset(SCOPES[i] for i in range(len(SCOPES)) if c & (1 << i)) or {Scope.VIEW_CONTRACTS}
                start = now + timedelta(minutes=(b % 4) * 30) if b % 3 == 0 else None
                until = (start or now) + timedelta(minutes=1 + (c % 7) * 40) if c % 2 else None
                gid = self._id()
                cmd3 = grants.AuthorizeContact(people[b % len(people)], frozenset(chosen), start, until)
                self._record(n, grants.decide_authorize(state, cmd3, acting, now, gid), acting)
                every_grant.append(gid)
            elif kind == 6 and granted:
                cmd4 = grants.RevokeAuthorization(granted[b % len(granted)], "no longer needed")
                self._record(n, grants.decide_revoke(state, cmd4, acting, now), acting)
            elif kind == 7 and people:
                cid = people[b % len(people)]
                if c % 2:
                    self._record(
                        n, contacts.decide_contact_left(state, contacts.RecordContactLeft(cid), acting, now), acting
                    )
                else:
                    self._record(
                        n, contacts.decide_remove_contact(state, contacts.RemoveContact(cid), acting, now), acting
                    )
            elif kind == 8:
                cmd5 = grants.IssueOfficialInstruction(f"DOC-{c}")
                self._record(n, grants.decide_issue_instruction(state, cmd5, owner), owner)
            elif kind == 9:
                cmd6 = grants.WithdrawOfficialInstruction("customer asked")
                self._record(n, grants.decide_withdraw_instruction(state, cmd6, owner), owner)
        except DomainError as refused:
            self.refused[type(refused).__name__] = self.refused.get(type(refused).__name__, 0) + 1

    def instants(self) -> list[datetime]:
        """Interesting instants: every event's, a moment before and after, and validity edges."""
        out: set[datetime] = {START - timedelta(minutes=1)}
        for e in self.events:
            for delta in (timedelta(0), timedelta(seconds=-1), timedelta(seconds=1)):
                out.add(e.occurred_at + delta)
            for key in ("valid_from", "valid_until"):
                if e.data.get(key):
                    out.add(datetime.fromisoformat(str(e.data[key])))
        return sorted(out)


def build(ops: list[Op], customers: list[str]) -> History:
    history = History(customers)
    for op in ops:
        history.apply(op)
    return history


def requesters(history: History) -> list[Requester]:
    """Everyone a check could name in this history: every contact id, e-mail and phone."""
    ids = [Requester(RequesterKind.CONTACT_ID, str(c)) for people in history.contact_ids.values() for c in people]
    return [
        *ids,
        *(Requester(RequesterKind.EMAIL, e) for e in EMAILS),
        *phones_heard(),
    ]


def phones_heard() -> list[Requester]:
    return [Requester.heard(RequesterKind.PHONE, p) for p in PHONES]
