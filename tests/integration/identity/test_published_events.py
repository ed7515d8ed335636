"""identity's events reach `identity.events` as CloudEvents (Kafka binding, binary mode)."""

from __future__ import annotations

import orjson
import pytest

from services.identity.domain.events import STAFF_CUSTOMER_NUMBER, registry
from shared import cloudevents
from shared.auth import Role
from shared.kafka import topic_for
from tests.integration.identity.harness import IdentityHarness
from tests.support.kafka import find_header, records_until

pytestmark = pytest.mark.integration


async def test_events_arrive_on_identity_events_as_cloudevents(identity: IdentityHarness, kafka: str) -> None:
    number, _, password = await identity.customer_with_password()
    await identity.login(number, password)
    await identity.login(number, "a-wrong-password-for-the-audit")
    await identity.staff_headers(Role.SUPPORT)

    stored = await identity.runtime.uow.store.read_all()
    by_id = {str(e.event_id): e for e in stored}
    records = [r for r in await records_until(kafka, topic_for("identity"), by_id) if find_header(r, "ce_id") in by_id]

    published_types = {find_header(r, "ce_type") for r in records}
    for name in (
        "CustomerAccountOpened",
        "PasswordResetRequested",
        "PasswordChanged",
        "LoginSucceeded",
        "LoginFailed",
        "StaffUserCreated",
    ):
        assert f"hosting.accounts.identity.{name}.v1" in published_types, name

    for record in records:
        assert find_header(record, "ce_specversion") == "1.0"
        assert find_header(record, "ce_source") == "/accounts/identity"
        assert find_header(record, "content-type") == "application/json"
        event = cloudevents.from_kafka(record.value, record.headers)
        original = by_id[str(event.event_id)]
        assert record.key.decode() == original.customer_number == event.customer_number
        assert event.stream_id == original.stream_id
        assert event.data == orjson.loads(orjson.dumps(original.data))
        registry.decode(event)  # every published event decodes with identity's registry
        if event.event_type == "StaffUserCreated":
            assert event.customer_number == STAFF_CUSTOMER_NUMBER
        elif event.event_type in ("CustomerAccountOpened", "PasswordChanged", "LoginFailed"):
            assert event.customer_number == number
