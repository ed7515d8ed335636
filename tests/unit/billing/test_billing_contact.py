"""The billing contact's decision: only a current contact person, nothing for no change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.billing.domain.authority import account_owner
from services.billing.domain.billing_contact import decide_change_billing_contact, fold
from services.billing.domain.errors import NotACurrentContact
from services.billing.domain.events import BillingContactChanged
from shared.authorization.model import ContactDetails

OWNER = account_owner("100001")
ADA = uuid.uuid4()


def known(contact_id: uuid.UUID, *, left: bool = False) -> ContactDetails:
    removed = datetime(2026, 11, 1, tzinfo=UTC) if left else None
    return ContactDetails(contact_id, "Ada", "ada@example.org", None, None, "accounting", removed)


def test_naming_a_current_contact_records_it_with_the_one_before() -> None:
    [event] = decide_change_billing_contact("100001", None, ADA, known(ADA), OWNER)
    assert isinstance(event, BillingContactChanged)
    assert (event.contact_id, event.previous_contact_id) == (ADA, None)
    assert (event.requested_by, event.basis) == ("customer:100001", "portal_account_owner")
    bob = uuid.uuid4()
    [second] = decide_change_billing_contact("100001", ADA, bob, known(bob), OWNER)
    assert fold([event, second]) == bob
    [cleared] = decide_change_billing_contact("100001", bob, None, None, OWNER)
    assert fold([event, second, cleared]) is None


def test_naming_the_same_contact_or_nobody_again_changes_nothing() -> None:
    assert decide_change_billing_contact("100001", ADA, ADA, known(ADA), OWNER) == []
    assert decide_change_billing_contact("100001", ADA, ADA, known(ADA, left=True), OWNER) == []  # stays, shown gone
    assert decide_change_billing_contact("100001", None, None, None, OWNER) == []


def test_an_unknown_or_departed_contact_cannot_be_named() -> None:
    with pytest.raises(NotACurrentContact, match="no contact person of this customer") as unknown:
        decide_change_billing_contact("100001", None, ADA, None, OWNER)
    assert unknown.value.extensions == {"field": "contact_id"}
    with pytest.raises(NotACurrentContact, match="left the customer"):
        decide_change_billing_contact("100001", None, ADA, known(ADA, left=True), OWNER)
