"""Secrets the domains service makes and keeps: one-time link tokens, FTP passwords, their hashes.

* A one-time link token is 256 random bits (`secrets.token_urlsafe(32)`); only its SHA-256 is
  stored: with that much entropy there is nothing to brute-force, so a slow hash adds nothing.
* An FTP password is 144 random bits as 24 URL-safe characters; a mailbox password is chosen by
  its owner. Both are stored as argon2id hashes (OWASP's minimum parameters or more), computed
  in a small thread pool so the event loop never stalls (argon2-cffi releases the GIL).

Nothing here logs; callers hand the clear values to a mail body or a hash and drop them.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import argon2


def new_link_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_ftp_password() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True)
class Argon2Parameters:
    memory_kib: int = 19456  # OWASP Password Storage Cheat Sheet minimum for argon2id
    time_cost: int = 2
    parallelism: int = 1


class PasswordHasher:
    def __init__(self, parameters: Argon2Parameters, *, concurrency: int | None = None) -> None:
        self._hasher = argon2.PasswordHasher(
            time_cost=parameters.time_cost,
            memory_cost=parameters.memory_kib,
            parallelism=parameters.parallelism,
            hash_len=32,
            salt_len=16,
            type=argon2.Type.ID,
        )
        slots = concurrency or os.cpu_count() or 1
        self._slots = asyncio.Semaphore(slots)
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="domains-argon2")

    async def hash(self, secret: str) -> str:
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._hasher.hash, secret)

    def verify(self, stored_hash: str, secret: str) -> bool:
        """Synchronous: for tests and tools (the FTP server verifies against the stored hash)."""
        try:
            return self._hasher.verify(stored_hash, secret)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
