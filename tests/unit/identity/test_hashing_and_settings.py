"""argon2id parameters: production defaults meet OWASP, weaker settings are refused, rehashing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.identity.adapters.hashing import Argon2Parameters, SecretHasher
from services.identity.settings import IdentitySettings


def test_defaults_meet_the_owasp_minimum() -> None:
    parameters = IdentitySettings().argon2_parameters
    assert parameters.memory_kib >= 19456
    assert parameters.time_cost >= 2
    assert parameters.parallelism >= 1
    assert parameters.meets_owasp_minimum


def test_weaker_parameters_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDENTITY_ARGON2_MEMORY_KIB", "4096")
    with pytest.raises(ValidationError, match="OWASP"):
        IdentitySettings()
    with pytest.raises(ValidationError):
        IdentitySettings(argon2_time_cost=1)
    with pytest.raises(ValidationError):
        IdentitySettings(access_token_ttl_s=16 * 60)


async def test_hash_verify_and_rehash_when_parameters_rise() -> None:
    old = SecretHasher(Argon2Parameters(memory_kib=256, time_cost=1, parallelism=1), concurrency=1)
    new = SecretHasher(Argon2Parameters(memory_kib=512, time_cost=2, parallelism=1), concurrency=1)
    stored = await old.hash("a password of some length")
    assert stored.startswith("$argon2id$")
    assert await new.verify(stored, "a password of some length")  # old hashes still verify
    assert not await new.verify(stored, "another password")
    assert not await new.verify("not a hash at all", "a password of some length")
    assert new.needs_rehash(stored)
    assert not old.needs_rehash(stored)
    assert await new.verify(new.dummy_hash, "anything") is False
    # The dummy costs what a real hash costs: same parameters.
    assert not new.needs_rehash(new.dummy_hash)
