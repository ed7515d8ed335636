"""The in-memory model keeps each contact's grants in grant order, so that checks need not sort:
whatever order grants arrive and are revoked in, the view hands `decide` what sorting would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.authorization.decision import decide
from shared.authorization.identifiers import Requester, RequesterKind
from shared.authorization.memory import CustomerAuthorizations
from shared.authorization.model import AuthorizationView, ContactRecord, GrantRecord, grant_order
from shared.scopes import Scope

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ADA = uuid.UUID(int=1)
SCOPES = [s.value for s in Scope]


def _grant(n: int, minutes: int, scopes: tuple[str, ...]) -> GrantRecord:
    at = T0 + timedelta(minutes=minutes)
    return GrantRecord(uuid.UUID(int=1000 + n), ADA, scopes, at, None, at, "customer:100001", "portal_account_owner")


grants_strategy = st.lists(
    # few distinct instants, so that ties (one command's grants) are common
    st.tuples(st.integers(0, 3), st.lists(st.sampled_from(SCOPES), min_size=1, max_size=2, unique=True)),
    min_size=1,
    max_size=8,
)


@given(grants_strategy, st.data())
def test_grants_stay_in_grant_order_and_decide_as_if_sorted(
    spec: list[tuple[int, list[str]]], data: st.DataObject
) -> None:
    grants = [_grant(n, minutes, tuple(scopes)) for n, (minutes, scopes) in enumerate(spec)]
    model = CustomerAuthorizations("100001")
    model.contacts[ADA] = ContactRecord(ADA, T0 - timedelta(days=1))
    for g in data.draw(st.permutations(grants)):
        model.add_grant(g)
    revoked = data.draw(st.lists(st.sampled_from(grants), unique_by=lambda g: g.grant_id))
    for g in revoked:
        model.replace_grant(model.grants[g.grant_id].with_revocation(T0 + timedelta(hours=1), "customer:100001", None))

    held = model.grants_by_contact[ADA]
    assert [g.grant_id for g in held] == [g.grant_id for g in sorted(grants, key=grant_order)]
    assert held == [model.grants[g.grant_id] for g in held]  # revocations replaced in place

    at = T0 + timedelta(hours=data.draw(st.sampled_from([0, 2])))
    view = model.view(Requester(RequesterKind.CONTACT_ID, str(ADA)), at)
    assert view.grants_in_order
    shuffled = AuthorizationView(
        view.customer_number, view.contact, tuple(data.draw(st.permutations(view.grants))), view.instruction
    )
    for action in SCOPES:
        assert decide(view, action, at) == decide(shuffled, action, at)
