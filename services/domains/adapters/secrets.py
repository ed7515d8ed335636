"""Secrets the domains service makes and keeps: one-time link tokens, FTP passwords, their hashes.

* A one-time link token is 256 random bits (`secrets.token_urlsafe(32)`); only its SHA-256 is
  stored: with that much entropy there is nothing to brute-force, so a slow hash adds nothing.
* An FTP password is 144 random bits as 24 URL-safe characters; a mailbox password is chosen by
  its owner. Both are stored as argon2id hashes (OWASP's minimum parameters or more), computed
  in a small thread pool so the event loop never stalls (argon2-cffi releases the GIL).

Nothing here logs; callers hand the clear values to a mail body or a hash and drop them.
"""

from __future__ import annotations

import hashlib
import secrets

from shared.hashing import Argon2Hasher


def new_link_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_ftp_password() -> str:
    return secrets.token_urlsafe(18)


class PasswordHasher(Argon2Hasher):
    def verify(self, stored_hash: str, secret: str) -> bool:
        """Synchronous: for tests and tools (the FTP server verifies against the stored hash)."""
        return self.matches(stored_hash, secret)
