""" "As of T" from the whole history equals the answer of a replay of the events up to T."""

from __future__ import annotations

import random
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.authorization.decision import decide
from shared.authorization.memory import AuthorizationMemory
from shared.scopes import Scope
from tests.unit.authorization.histories import History, build, operations, random_ops, requesters

CUSTOMERS = ["100001", "100002"]


def assert_same_as_replay(history: History, instants: list[datetime], sample: int | None = None) -> None:
    live = AuthorizationMemory().apply_all(history.events)
    who = requesters(history)
    if sample is not None:
        who = random.Random(len(who)).sample(who, min(sample, len(who)))
    for at in instants:
        replay = AuthorizationMemory().apply_all(e for e in history.events if e.occurred_at <= at)
        for n in CUSTOMERS:
            assert live.authorizations_at(n, at) == replay.authorizations_at(n, at), (n, at)
            for requester in who:
                for action in (Scope.CHANGE_DNS, Scope.MANAGE_CONTACTS, Scope.ALL):
                    assert decide(live.view(n, requester, at), action, at) == decide(
                        replay.view(n, requester, at), action, at
                    ), (n, at, requester, action)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operations, min_size=1, max_size=60))
def test_as_of_equals_replay_on_small_histories(ops: list[tuple[int, int, int, int, int]]) -> None:
    history = build(ops, CUSTOMERS)
    assert_same_as_replay(history, history.instants())


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 2**32))
def test_as_of_equals_replay_on_thousands_of_grants(seed: int) -> None:
    history = build(random_ops(random.Random(seed), 3500), CUSTOMERS)
    grants = sum(1 for e in history.events if e.event_type == "ContactAuthorized")
    assert grants > 1000
    instants = history.instants()
    assert_same_as_replay(history, instants[:: max(1, len(instants) // 20)], sample=40)
