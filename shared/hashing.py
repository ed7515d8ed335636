"""argon2id hashing off the event loop, with a bound on how many hashes run at once.

A hash costs tens of milliseconds of CPU and 19 MiB of memory by design. Run on the event loop
it would stall every other request; run unbounded in threads, a burst would exhaust memory and
starve the process. So hashes run in a small thread pool (argon2-cffi releases the GIL while
hashing) behind a semaphore, and callers queue for a slot. Used by identity (passwords, one-time
passwords) and domains (mailbox and FTP passwords).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel, model_validator

# OWASP's minimum for argon2id (Password Storage Cheat Sheet): m=19 MiB, t=2, p=1.
OWASP_MIN_MEMORY_KIB = 19456
OWASP_MIN_TIME_COST = 2
OWASP_MIN_PARALLELISM = 1

T = TypeVar("T")


@dataclass(frozen=True)
class Argon2Parameters:
    memory_kib: int = OWASP_MIN_MEMORY_KIB
    time_cost: int = OWASP_MIN_TIME_COST
    parallelism: int = OWASP_MIN_PARALLELISM

    @property
    def meets_owasp_minimum(self) -> bool:
        return (
            self.memory_kib >= OWASP_MIN_MEMORY_KIB
            and self.time_cost >= OWASP_MIN_TIME_COST
            and self.parallelism >= OWASP_MIN_PARALLELISM
        )


class Argon2Settings(BaseModel):
    """argon2id settings for a service's settings class to inherit (read with its own env prefix);
    a configuration below OWASP's minimum is refused at start."""

    argon2_memory_kib: int = OWASP_MIN_MEMORY_KIB
    argon2_time_cost: int = OWASP_MIN_TIME_COST
    argon2_parallelism: int = OWASP_MIN_PARALLELISM

    @model_validator(mode="after")
    def _hashing_meets_minimum(self) -> Argon2Settings:
        if not self.argon2_parameters.meets_owasp_minimum:
            raise ValueError("argon2id parameters below the OWASP minimum (m=19456 KiB, t=2, p=1)")
        return self

    @property
    def argon2_parameters(self) -> Argon2Parameters:
        return Argon2Parameters(self.argon2_memory_kib, self.argon2_time_cost, self.argon2_parallelism)


class Argon2Hasher:
    def __init__(self, parameters: Argon2Parameters, *, concurrency: int | None = None) -> None:
        self.parameters = parameters
        self._hasher = argon2.PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_kib,
            parallelism=parameters.parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        slots = concurrency or os.cpu_count() or 1
        self.concurrency = slots
        self._slots = asyncio.Semaphore(slots)
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="argon2")

    async def _off_loop(self, fn: Callable[..., T], *args: str) -> T:
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def hash(self, secret: str) -> str:
        return await self._off_loop(self._hasher.hash, secret)

    def matches(self, stored_hash: str, secret: str) -> bool:
        """Synchronous check (blocks for one hash); a malformed stored hash never matches."""
        try:
            return self._hasher.verify(stored_hash, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def matches_off_loop(self, stored_hash: str, secret: str) -> bool:
        return await self._off_loop(self.matches, stored_hash, secret)

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other (older, weaker) parameters than ours."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
