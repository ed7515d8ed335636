"""No event of identity has room for a secret."""

from __future__ import annotations

import dataclasses

from services.identity.domain.events import registry

SECRET_WORDS = ("password", "hash", "secret", "otp", "code", "token", "key", "credential")


def test_no_event_field_is_named_like_a_secret() -> None:
    classes = list(registry.classes)
    assert len(classes) >= 10
    for cls in classes:
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            assert not any(word in field.name for word in SECRET_WORDS), f"{cls.__name__}.{field.name}"


def test_event_names_are_past_tense_and_versioned() -> None:
    for cls in registry.classes:
        assert cls.schema_version >= 1
        assert cls.event_type.endswith(("ed", "Detected")), cls.event_type
