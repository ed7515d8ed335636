"""Does a new JSON Schema of an event's data break the consumers of the old one?

The topics keep every event for ever, so one schema version has to hold in both directions:
consumers written against the old schema read events written with the new class, and the new
class (and every consumer) reads the events already on the topic. Breaking, under one
(event type, version):

* a field removed;
* a field that becomes required (new without a default, or optional made required): old events lack it;
* a field retyped: a JSON type or format added or dropped (also `X` -> `X | None` and back), or
  an object / array whose parts break;
* an enum value removed (old events hold it).

Not breaking: a new optional field (with a default), a field made optional, an added enum value
(consumers must accept values they do not know, e.g. new scopes), titles, descriptions, defaults.
A breaking change needs a new schema version and an upcaster from the old one.

Only the subset of JSON Schema that `event_schemas` produces is understood: `type`, `format`,
`enum`/`const`, `anyOf`/`oneOf`, `properties`/`required`/`additionalProperties`, `items`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Schema = Mapping[str, Any]

_ANY = "any"


def breaking_changes(old: Schema, new: Schema, path: str = "$") -> list[str]:
    """Human-readable breaking changes from `old` to `new` (empty: compatible)."""
    problems: list[str] = []
    old_by_type = _by_type(old)
    new_by_type = _by_type(new)
    if _ANY in new_by_type and _ANY not in old_by_type:
        problems.append(f"{path}: type changed from {_types(old_by_type)} to any value")
    elif _ANY in old_by_type and _ANY not in new_by_type:
        problems.append(f"{path}: type narrowed from any value to {_types(new_by_type)}")
    elif _ANY not in old_by_type:
        dropped = sorted(set(old_by_type) - set(new_by_type))
        added = sorted(set(new_by_type) - set(old_by_type))
        if dropped or added:
            problems.append(f"{path}: type changed from {_types(old_by_type)} to {_types(new_by_type)}")
        for json_type in sorted(set(old_by_type) & set(new_by_type)):
            problems += _compare_same_type(json_type, old_by_type[json_type], new_by_type[json_type], path)
    return problems


def _types(by_type: Mapping[str, Schema]) -> str:
    return " | ".join(sorted(by_type)) or "nothing"


def _by_type(schema: Schema) -> dict[str, Schema]:
    """The schema's alternatives, one per JSON type (`any` when it does not constrain the type)."""
    out: dict[str, Schema] = {}
    for alternative in _alternatives(schema):
        declared = alternative.get("type")
        if declared is None and "const" in alternative:
            declared = _json_type(alternative["const"])
        if declared is None and "enum" in alternative:
            kinds = {_json_type(v) for v in alternative["enum"]}
            declared = kinds.pop() if len(kinds) == 1 else None
        if declared is None and "properties" in alternative:
            declared = "object"
        kinds_list = declared if isinstance(declared, list) else [declared]
        for kind in kinds_list:
            key = _ANY if kind is None else str(kind)
            out[key] = _merge(out[key], alternative) if key in out else alternative
    return out


def _alternatives(schema: Schema) -> list[Schema]:
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            rest = {k: v for k, v in schema.items() if k != keyword}
            out: list[Schema] = []
            for option in schema[keyword]:
                out += _alternatives({**rest, **option})
            return out
    if "allOf" in schema and len(schema["allOf"]) == 1:
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return _alternatives({**rest, **schema["allOf"][0]})
    return [schema]


def _merge(a: Schema, b: Schema) -> Schema:
    # Two alternatives of one JSON type (e.g. two string enums) accept the union of their values.
    merged = {k: v for k, v in {**a, **b}.items() if k not in ("enum", "const")}
    a_values, b_values = _enum(a), _enum(b)
    if a_values is not None and b_values is not None:
        merged["enum"] = sorted(a_values | b_values, key=repr)
    return merged


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _enum(schema: Schema) -> set[Any] | None:
    if "const" in schema:
        return {_hashable(schema["const"])}
    if "enum" in schema:
        return {_hashable(v) for v in schema["enum"]}
    return None


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, (list, dict)) else value


def _compare_same_type(json_type: str, old: Schema, new: Schema, path: str) -> list[str]:
    problems: list[str] = []
    if old.get("format") != new.get("format"):
        problems.append(f"{path}: format changed from {old.get('format')} to {new.get('format')}")
    old_values, new_values = _enum(old), _enum(new)
    if new_values is not None:
        if old_values is None:
            problems.append(f"{path}: restricted to the values {sorted(map(str, new_values))}")
        elif removed := old_values - new_values:
            problems.append(f"{path}: values removed: {sorted(map(str, removed))}")
    if json_type == "object":
        problems += _compare_objects(old, new, path)
    elif json_type == "array":
        problems += breaking_changes(old.get("items", {}), new.get("items", {}), f"{path}[]")
    return problems


def _compare_objects(old: Schema, new: Schema, path: str) -> list[str]:
    problems: list[str] = []
    old_props: Mapping[str, Schema] = old.get("properties", {})
    new_props: Mapping[str, Schema] = new.get("properties", {})
    old_required = set(old.get("required", ()))
    new_required = set(new.get("required", ()))
    for name in old_props:
        if name not in new_props:
            problems.append(f"{path}.{name}: removed")
    for name in sorted(new_required - old_required):
        if name in old_props:
            problems.append(f"{path}.{name}: optional field made required")
        else:
            problems.append(f"{path}.{name}: new field is required (events already written lack it)")
    for name, old_prop in old_props.items():
        if name in new_props:
            problems += breaking_changes(old_prop, new_props[name], f"{path}.{name}")
    old_extra, new_extra = old.get("additionalProperties"), new.get("additionalProperties")
    if isinstance(old_extra, Mapping) and isinstance(new_extra, Mapping):
        problems += breaking_changes(old_extra, new_extra, f"{path}.*")
    elif isinstance(old_extra, Mapping) and new_extra is False:
        problems.append(f"{path}: no longer accepts additional properties")
    return problems
