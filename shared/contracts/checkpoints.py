"""The contract of the `<service>.checkpoints` topics (published by `shared.audit.checkpoints`).

The checkpoint messages are plain JSON built by the publisher, not event classes, so their schema
is written here; `tests/contracts` validates real checkpoint messages and headers against it
(with no field left undocumented), so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

from typing import Any

CHECKPOINT_TYPE = "CheckpointPublished"
CHECKPOINT_VERSION = 1
PAYLOAD_SCHEMA = f"{CHECKPOINT_TYPE}.v{CHECKPOINT_VERSION}"
HEADERS_SCHEMA = "CloudEventsCheckpointHeaders"
# Headers of a checkpoint message (a subset of the event headers; no customer, actor or stream).
HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "content-type")

_HEX_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_COUNT = {"type": "integer", "minimum": 0}
_SNAPSHOT = {"type": "string", "pattern": "^[0-9]+:[0-9]+:([0-9]+(,[0-9]+)*)?$"}


def payload_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "service": {"type": "string", "description": "The service whose event store this describes."},
        "store": {
            "type": "string",
            "description": "The id the store got at its first checkpoint; the verifier folds only the "
            "checkpoints of the store it verifies (a copy or a second store never mixes in).",
        },
        "checkpoint_id": {
            "type": "string",
            "format": "uuid",
            "description": "Shared by the parts of one checkpoint; only complete checkpoints count.",
        },
        "sequence": {
            "type": "integer",
            "minimum": 1,
            "description": "1, 2, 3, ... per store; a retried round reuses its number.",
        },
        "taken_at": {"type": "string", "format": "date-time"},
        "snapshot": {
            **_SNAPSHOT,
            "description": "The PostgreSQL snapshot covered: exactly the events of the transactions visible in it.",
        },
        "previous_snapshot": {**_SNAPSHOT, "description": "The snapshot of the previous checkpoint."},
        "event_count": {**_COUNT, "description": "Events covered in total."},
        "stream_count": {**_COUNT, "description": "Streams covered in total."},
        "digest": {
            **_HEX_SHA256,
            "description": "Sum mod 2^256 of SHA-256(stream_id 0x00 version(8 bytes, big-endian) chain_hash) over "
            "the heads of all streams; folding the checkpoints in order must reproduce it.",
        },
        "part": {"type": "integer", "minimum": 1},
        "parts": {"type": "integer", "minimum": 1},
        "heads": {
            "type": "array",
            "description": "[stream_id, version, chain_hash (hex)] of every stream changed since the previous "
            "checkpoint (this part's share of them).",
            "items": {
                "type": "array",
                "items": [{"type": "string"}, {"type": "integer", "minimum": 1}, _HEX_SHA256],
                "minItems": 3,
                "maxItems": 3,
            },
        },
    }
    return {
        "type": "object",
        "title": CHECKPOINT_TYPE,
        "description": "What the service's event store looked like: the tamper evidence compliance verifies "
        "the stored hash chains against (python -m shared.audit verify).",
        "properties": properties,
        "required": list(properties),
    }


def headers_schema(descriptions: dict[str, str]) -> dict[str, Any]:
    constraints: dict[str, dict[str, Any]] = {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "format": "uuid"},
        "ce_source": {"type": "string", "pattern": "^/accounts/[a-z][a-z0-9_]*$"},
        "ce_type": {"type": "string", "pattern": rf"^hosting\.accounts\.[a-z][a-z0-9_]*\.{CHECKPOINT_TYPE}\.v1$"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "pattern": "^checkpoint-[1-9][0-9]*$", "description": "checkpoint-<sequence>"},
        "content-type": {"type": "string", "const": "application/json"},
    }
    properties = {name: {"description": descriptions.get(name, ""), **constraints[name]} for name in HEADERS}
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes of a checkpoint as Kafka record headers (binary content mode).",
        "properties": properties,
        "required": list(HEADERS),
    }
