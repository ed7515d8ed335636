"""Identity's secrets hasher: the shared argon2id hasher (shared/hashing.py) plus a dummy hash,
verified against when there is no real one, so that such a login costs as much as a wrong password."""

from __future__ import annotations

import secrets

from shared.hashing import Argon2Hasher, Argon2Parameters

__all__ = ["Argon2Parameters", "SecretHasher"]


class SecretHasher(Argon2Hasher):
    """Hashes and verifies passwords and one-time passwords with argon2id."""

    def __init__(self, parameters: Argon2Parameters, *, concurrency: int | None = None) -> None:
        super().__init__(parameters, concurrency=concurrency)
        self.dummy_hash = self._hasher.hash(secrets.token_urlsafe(24))

    async def verify(self, stored_hash: str, secret: str) -> bool:
        return await self.matches_off_loop(stored_hash, secret)
