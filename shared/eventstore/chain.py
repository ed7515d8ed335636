"""Tamper evidence: every stored event carries a hash chained to the previous event of its stream.

    chain_hash(v) = SHA-256( chain_hash(v - 1) || canonical(event v) ),  chain_hash(0) = 32 zero bytes

`canonical` is JSON with sorted keys and no whitespace over every envelope field and the data, so
changing any byte of a stored event, deleting, inserting or reordering events breaks the chain from
that point on. Someone able to rewrite the whole chain is caught by comparing the stream heads with
the checkpoints each service publishes to Kafka (see the compliance verifier).

Event data must not contain floats (PostgreSQL's jsonb may re-spell them); amounts are integers or
decimal strings.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

GENESIS = bytes(32)


def canonical(
    *,
    event_id: uuid.UUID,
    stream_id: str,
    stream_version: int,
    event_type: str,
    schema_version: int,
    customer_number: str,
    occurred_at: datetime,
    actor: str,
    correlation_id: uuid.UUID,
    causation_id: uuid.UUID | None,
    metadata: Mapping[str, Any],
    data: Mapping[str, Any],
) -> bytes:
    document = {
        "actor": actor,
        "causation_id": str(causation_id) if causation_id else None,
        "correlation_id": str(correlation_id),
        "customer_number": customer_number,
        "data": data,
        "event_id": str(event_id),
        "event_type": event_type,
        "metadata": metadata,
        "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "schema_version": schema_version,
        "stream_id": stream_id,
        "stream_version": stream_version,
    }
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def link(previous: bytes, canonical_bytes: bytes) -> bytes:
    return hashlib.sha256(previous + canonical_bytes).digest()


def canonical_of_row(row: Mapping[str, Any] | asyncpg.Record) -> bytes:
    """The canonical form of an `events` row as read back from PostgreSQL."""
    return canonical(
        event_id=row["event_id"],
        stream_id=row["stream_id"],
        stream_version=row["stream_version"],
        event_type=row["event_type"],
        schema_version=row["schema_version"],
        customer_number=row["customer_number"],
        occurred_at=row["occurred_at"],
        actor=row["actor"],
        correlation_id=row["correlation_id"],
        causation_id=row["causation_id"],
        metadata=row["metadata"],
        data=row["data"],
    )
