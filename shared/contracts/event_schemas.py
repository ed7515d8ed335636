"""The JSON Schema of an event's data, generated from its dataclass (the same adapter that decodes it).

Schemas are self-contained: pydantic's `$defs` (enums such as `Scope`) are inlined, so one
message's payload schema can be copied, compared and validated on its own, and it uses only
keywords that JSON Schema draft-07 (the AsyncAPI default schema format) shares with 2020-12.
The schema is that of validation: a field with a default is not required, because events written
before the field existed do not carry it (and stay on the topic for ever).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter

from shared.envelope import DomainEvent

# Keywords draft-07 does not know; a class whose schema needs one must be changed (or this module taught).
_NOT_PORTABLE = frozenset(
    {"prefixItems", "$defs", "$anchor", "$dynamicRef", "dependentRequired", "dependentSchemas", "unevaluatedProperties"}
)


class UnportableSchema(ValueError):
    """The generated schema cannot be expressed in the document's schema format."""


def event_schema(cls: type[DomainEvent]) -> dict[str, Any]:
    raw = TypeAdapter(cls).json_schema(mode="validation")
    defs: dict[str, Any] = raw.pop("$defs", {})
    schema = _inline(raw, defs, ())
    _ensure_portable(schema, cls.__name__)
    assert isinstance(schema, dict)
    return schema


def _inline(node: Any, defs: Mapping[str, Any], seen: tuple[str, ...]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        name = ref.removeprefix("#/$defs/")
        if name in seen:
            raise UnportableSchema(f"recursive type {name} cannot be inlined")
        target = _inline(defs[name], defs, (*seen, name))
        siblings = {k: _inline(v, defs, seen) for k, v in node.items() if k != "$ref"}
        return {**target, **siblings}
    return {key: _inline(value, defs, seen) for key, value in node.items()}


def _ensure_portable(node: Any, where: str) -> None:
    if isinstance(node, list):
        for item in node:
            _ensure_portable(item, where)
    elif isinstance(node, dict):
        bad = _NOT_PORTABLE.intersection(node)
        if bad:
            raise UnportableSchema(f"{where}: schema uses {sorted(bad)} (use tuple[X, ...] or a list instead)")
        for key, value in node.items():
            if key not in ("default", "examples", "const", "enum"):
                _ensure_portable(value, where)
