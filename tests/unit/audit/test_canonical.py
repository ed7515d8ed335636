"""The verifier's canonical form is byte for byte the one the store hashed (`chain.canonical`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import given
from hypothesis import strategies as st

from shared.audit.verify import canonical_bytes
from shared.eventstore.chain import canonical

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
documents = st.dictionaries(st.text(max_size=10), json_values, max_size=6)


@given(
    data=documents,
    metadata=documents,
    text=st.text(max_size=30),
    version=st.integers(1, 10**6),
    micro=st.integers(0, 999_999),
    offset_minutes=st.integers(-600, 600),
    causation=st.booleans(),
)
def test_canonical_bytes_equal_the_stores_canonical_form(
    data: dict[str, object],
    metadata: dict[str, object],
    text: str,
    version: int,
    micro: int,
    offset_minutes: int,
    causation: bool,
) -> None:
    event_id, correlation_id, causation_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4() if causation else None
    zone = timezone(timedelta(minutes=offset_minutes))
    occurred_at = datetime(2026, 3, 3, 12, 0, 5, micro, tzinfo=UTC).astimezone(zone)
    expected = canonical(
        event_id=event_id,
        stream_id=f"stream-{text}",
        stream_version=version,
        event_type=f"Type{text}",
        schema_version=2,
        customer_number="100001",
        occurred_at=occurred_at,
        actor=f"staff:{text}",
        correlation_id=correlation_id,
        causation_id=causation_id,
        metadata=metadata,
        data=data,
    )
    # What the verifier's SQL hands over: ids as text, the instant already rendered in UTC, JSON as text.
    got = canonical_bytes(
        str(event_id),
        f"stream-{text}",
        version,
        f"Type{text}",
        2,
        "100001",
        occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
        f"staff:{text}",
        str(correlation_id),
        str(causation_id) if causation_id else None,
        orjson.dumps(metadata).decode(),
        orjson.dumps(data).decode(),
    )
    assert got == expected
