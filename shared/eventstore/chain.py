"""Tamper evidence: every stored event carries a hash chained to the previous event of its stream.

    chain_hash(v) = SHA-256( chain_hash(v - 1) || canonical(event v) ),  chain_hash(0) = 32 zero bytes

`canonical` is a binary encoding of every envelope field and the data, laid out so that
PostgreSQL can produce it from a stored row with cheap built-in functions (`CANONICAL_SQL`, which
the verifier uses) and Python from the values it appends (`canonical`, the reference):

    event_id (16 bytes) | stream_version (int32) | schema_version (int32)
    | occurred_at (int64, microseconds since 2000-01-01 UTC: PostgreSQL's own representation)
    | correlation_id (16) | 0x00, or 0x01 and causation_id (16)
    | stream_id, event_type, customer_number, actor: each as int32 byte length and UTF-8
    | metadata, then data: each as 0x01 and the text PostgreSQL's jsonb renders, UTF-8
      (jsonb's binary wire form, version 1)

Integers are big-endian. The JSON texts need no length: a JSON object ends where its braces
close, so the encoding stays unambiguous. jsonb's rendering orders object keys by byte length,
then bytes, and separates with ", " and ": "; `jsonb_text` renders a Python value the same way
(tested against PostgreSQL on random documents). Changing any byte of a stored event, deleting,
inserting or reordering events breaks the chain from that point on. Someone able to rewrite the
whole chain is caught by comparing the stream heads with the checkpoints each service publishes
to Kafka (see the compliance verifier).

Event data should not contain floats: they are rendered as PostgreSQL's numeric renders them
(`1e+16` becomes `10000000000000000`), which `jsonb_text` follows, but amounts belong in integers
or decimal strings.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

import asyncpg
import orjson

GENESIS = bytes(32)

_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_HEAD = struct.Struct(">16siiq16s")
_LENGTH = struct.Struct(">i")
_JSONB_WIRE = b"\x01"  # jsonb_send's format version

# The canonical form of a row of `events`, computed by PostgreSQL (byte for byte `canonical`).
# The *send functions are PostgreSQL's binary wire forms: cheaper than rendering text and
# converting it (jsonb_send is a version byte 1 and the jsonb text). textsend and jsonb_send
# speak the session's client_encoding, which asyncpg always sets to UTF-8.
CANONICAL_SQL = """(
uuid_send(event_id) || int4send(stream_version) || int4send(schema_version) || timestamptz_send(occurred_at)
|| uuid_send(correlation_id)
|| CASE WHEN causation_id IS NULL THEN '\\x00'::bytea ELSE '\\x01'::bytea || uuid_send(causation_id) END
|| int4send(octet_length(stream_id)) || textsend(stream_id)
|| int4send(octet_length(event_type)) || textsend(event_type)
|| int4send(octet_length(customer_number)) || textsend(customer_number)
|| int4send(octet_length(actor)) || textsend(actor)
|| jsonb_send(metadata) || jsonb_send(data))"""


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
    instant = (occurred_at.astimezone(UTC) - _PG_EPOCH) // _MICROSECOND
    stream, kind, customer, who = stream_id.encode(), event_type.encode(), customer_number.encode(), actor.encode()
    return b"".join(
        (
            _HEAD.pack(event_id.bytes, stream_version, schema_version, instant, correlation_id.bytes),
            b"\x00" if causation_id is None else b"\x01" + causation_id.bytes,
            _LENGTH.pack(len(stream)),
            stream,
            _LENGTH.pack(len(kind)),
            kind,
            _LENGTH.pack(len(customer)),
            customer,
            _LENGTH.pack(len(who)),
            who,
            _JSONB_WIRE,
            jsonb_text(metadata).encode(),
            _JSONB_WIRE,
            jsonb_text(data).encode(),
        )
    )


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


# -- PostgreSQL's jsonb text rendering ------------------------------------------------------------

_key_orders: dict[tuple[str, ...], list[str]] = {}


def jsonb_text(value: Any) -> str:
    """`value` as PostgreSQL renders it once stored as jsonb (what `data::text` gives back).

    Values that are not plain JSON (UUIDs, datetimes, enums...) are first turned into what
    orjson, the database codec, sends for them.
    """
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is dict:
        if not value:
            return "{}"
        return "{" + ", ".join([encode_basestring(k) + ": " + jsonb_text(value[k]) for k in _ordered(value)]) + "}"
    if kind is list or kind is tuple:
        return "[" + ", ".join([jsonb_text(item) for item in value]) + "]"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        return _numeric_text(value)
    if isinstance(value, Mapping):
        return jsonb_text(dict(value))
    return jsonb_text(orjson.loads(orjson.dumps(value)))


def _ordered(document: dict[str, Any]) -> list[str]:
    """jsonb's key order: shorter (in bytes) first, then bytewise (a few key sets recur: cached)."""
    keys = tuple(document)
    order = _key_orders.get(keys)
    if order is None:
        order = sorted(keys, key=_key_order)
        if len(_key_orders) >= 4096:
            _key_orders.clear()
        _key_orders[keys] = order
    return order


def _key_order(key: str) -> tuple[int, bytes]:
    raw = key.encode()
    return len(raw), raw


def _numeric_text(number: float) -> str:
    """orjson's spelling read back by PostgreSQL's numeric: no exponent, no negative zero."""
    spelled = orjson.dumps(number).decode()
    if spelled == "null":  # NaN and infinities
        return spelled
    exact = Decimal(spelled)
    text = format(exact, "f")
    return text[1:] if exact.is_zero() and text.startswith("-") else text
