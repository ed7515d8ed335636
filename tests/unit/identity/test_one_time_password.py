"""One-time passwords: alphabet, strength, display, and the rules of their use."""

from __future__ import annotations

import math
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from services.identity.domain import one_time_password as otp

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLICY = otp.OtpPolicy()


def _state(**changes: object) -> otp.OtpState:
    base: dict[str, object] = {
        "otp_id": uuid.uuid4(),
        "expires_at": NOW + POLICY.validity,
        "attempts": 0,
        "used_at": None,
        "issued_at": (NOW,),
    }
    base.update(changes)
    return otp.OtpState(**base)  # type: ignore[arg-type]


def test_alphabet_has_no_look_alikes_and_codes_are_strong() -> None:
    assert not set("01OIL") & set(otp.ALPHABET)
    assert len(set(otp.ALPHABET)) == len(otp.ALPHABET)
    bits = POLICY.length * math.log2(len(otp.ALPHABET))
    assert POLICY.length >= 8
    assert bits >= 40  # far above the 20-bit floor
    codes = {otp.new_code(secrets.choice) for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == POLICY.length and set(c) <= set(otp.ALPHABET) for c in codes)


def test_display_and_input_forms() -> None:
    code = "ABCDE23456"
    shown = otp.for_display(code)
    assert shown == "ABCDE-23456"
    assert otp.normalise(shown) == code
    assert otp.normalise(" abcde 23456 ") == code


def test_valid_ten_minutes() -> None:
    state = _state()
    assert otp.may_try(state, NOW + timedelta(minutes=9, seconds=59), POLICY)
    assert not otp.may_try(state, NOW + timedelta(minutes=10), POLICY)


def test_five_tries_then_dead() -> None:
    assert otp.may_try(_state(attempts=4), NOW, POLICY)
    assert not otp.may_try(_state(attempts=5), NOW, POLICY)


def test_single_use() -> None:
    state = _state()
    assert otp.may_consume(state, state.otp_id, NOW)
    used = _state(otp_id=state.otp_id, used_at=NOW)
    assert not otp.may_consume(used, state.otp_id, NOW)
    assert not otp.may_try(used, NOW, POLICY)


def test_a_replaced_code_cannot_be_consumed() -> None:
    old_id = uuid.uuid4()
    assert not otp.may_consume(_state(), old_id, NOW)
    assert not otp.may_try(None, NOW, POLICY)


def test_at_most_five_codes_an_hour() -> None:
    issued = tuple(NOW - timedelta(minutes=m) for m in (50, 40, 30, 20, 10))
    assert not otp.may_issue(_state(issued_at=issued), NOW, POLICY)
    assert otp.may_issue(_state(issued_at=issued), NOW + timedelta(minutes=11), POLICY)
    assert otp.recent_issues(issued, NOW + timedelta(minutes=11), POLICY) == issued[1:]
    assert otp.may_issue(None, NOW, POLICY)
