"""One-time passwords for setting a password: their shape and the rules of their use.

A code is 10 characters from a 31-letter alphabet without look-alikes (no 0/O, 1/I/L), about
49.5 bits from a CSPRNG (the caller passes `secrets.choice` in). It is valid for 10 minutes,
used at most once, dies after 5 tries, and a new request replaces it. The store enforces these
rules under a row lock, so they hold when many confirmations race; the rules themselves are here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class OtpPolicy:
    length: int = 10
    validity: timedelta = timedelta(minutes=10)
    max_attempts: int = 5
    # At most this many codes (and mails) per account and window: a mail bomb stops here.
    max_issued: int = 5
    issue_window: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class OtpState:
    otp_id: uuid.UUID
    expires_at: datetime
    attempts: int
    used_at: datetime | None
    issued_at: tuple[datetime, ...]


def new_code(choose: Callable[[str], str], policy: OtpPolicy = OtpPolicy()) -> str:
    return "".join(choose(ALPHABET) for _ in range(policy.length))


def for_display(code: str) -> str:
    """`ABCDE-FGHJK`: easier to read and type; the hyphen is optional on input."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


def normalise(entered: str) -> str:
    return "".join(ch for ch in entered.upper() if ch not in " -\t")


def recent_issues(issued_at: Sequence[datetime], now: datetime, policy: OtpPolicy) -> tuple[datetime, ...]:
    return tuple(t for t in issued_at if now - t < policy.issue_window)


def may_issue(state: OtpState | None, now: datetime, policy: OtpPolicy) -> bool:
    return state is None or len(recent_issues(state.issued_at, now, policy)) < policy.max_issued


def may_try(state: OtpState | None, now: datetime, policy: OtpPolicy) -> bool:
    """Whether one more try may be counted against the live code (before checking it)."""
    return (
        state is not None and state.used_at is None and state.attempts < policy.max_attempts and now < state.expires_at
    )


def may_consume(state: OtpState | None, otp_id: uuid.UUID, now: datetime) -> bool:
    """Whether the code a caller just proved to know is still the live, unused one."""
    return state is not None and state.otp_id == otp_id and state.used_at is None and now < state.expires_at
