"""PostgreSQL's canonical form of a stored event (`chain.CANONICAL_SQL`, what the verifier hashes)
is byte for byte the one Python computes when appending (`chain.canonical`), for any JSON."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.db import Pool
from shared.eventstore.chain import CANONICAL_SQL, canonical, jsonb_text

pytestmark = pytest.mark.integration

# Quotes, backslashes, every control character but NUL (PostgreSQL refuses it), DEL,
# non-ASCII of 2, 3 and 4 bytes, U+2028.
_ALPHABET = ['"', "\\", "/", " ", "a", "Z", "0", "\x7f", "é", "ß", "€", "\u2028", "✓", "𝄞", *map(chr, range(1, 32))]
_FLOATS = [0.0, -0.0, 1.0, -2.5, 0.1, 1e16, 1.5e-7, 1.2345e20, 123456.789, float("nan"), float("inf")]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(0, 8)))


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randrange(-(2**63), 2**63)
    if kind == 3:
        return rng.choice(_FLOATS)
    if kind in (4, 5):
        return _text(rng)
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return _document(rng, depth + 1)


def _document(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    return {_text(rng): _value(rng, depth) for _ in range(rng.randrange(0, 6))}


_ROWS = f"""
SELECT {CANONICAL_SQL} FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[],
    $7::timestamptz[], $8::text[], $9::uuid[], $10::uuid[], $11::jsonb[], $12::jsonb[])
    AS events(event_id, stream_id, stream_version, event_type, schema_version, customer_number, occurred_at,
              actor, correlation_id, causation_id, metadata, data)
"""  # noqa: S608 - a module constant


async def test_postgres_renders_the_canonical_form_python_hashes(pool: Pool) -> None:
    rng = random.Random(20261128)
    events: list[dict[str, Any]] = []
    for i in range(500):
        zone = timezone(timedelta(minutes=rng.randrange(-600, 600)))
        events.append(
            {
                "event_id": uuid.UUID(int=rng.getrandbits(128)),
                "stream_id": f"stream-{_text(rng)}",
                "stream_version": rng.randrange(1, 2**31),
                "event_type": f"Type{_text(rng)}",
                "schema_version": rng.randrange(1, 5),
                "customer_number": str(100000 + i),
                "occurred_at": datetime(1999, 12, 31, tzinfo=UTC).astimezone(zone)
                + timedelta(microseconds=rng.randrange(-(10**16), 10**16)),
                "actor": f"staff:{_text(rng)}",
                "correlation_id": uuid.uuid4(),
                "causation_id": uuid.uuid4() if rng.random() < 0.5 else None,
                "metadata": _document(rng),
                "data": {**_document(rng), "list": [_value(rng) for _ in range(3)]},
            }
        )
    columns = [[e[name] for e in events] for name in events[0]]
    rendered = [row[0] for row in await pool.fetch(_ROWS, *columns)]
    for event, got in zip(events, rendered, strict=True):
        assert got == canonical(**event), event


async def test_jsonb_text_is_what_postgres_gives_back(pool: Pool) -> None:
    rng = random.Random(7)
    documents = [_document(rng) for _ in range(300)]
    texts = await pool.fetchval(
        "SELECT array_agg(d::text ORDER BY n) FROM unnest($1::jsonb[]) WITH ORDINALITY AS u(d, n)", documents
    )
    assert [jsonb_text(d) for d in documents] == texts
    assert jsonb_text({"b": uuid.UUID(int=1), "aa": datetime(2026, 1, 2, tzinfo=UTC), "a": (1, 2)}) == (
        '{"a": [1, 2], "b": "00000000-0000-0000-0000-000000000001", "aa": "2026-01-02T00:00:00+00:00"}'
    )
