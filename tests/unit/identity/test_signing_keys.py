"""Which signing key signs when, and which may be retired (pure rules of key rotation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.identity.domain.signing_keys import (
    JWKS_MAX_AGE,
    MAX_RELOAD_INTERVAL,
    PUBLISH_AHEAD,
    RETIRE_AFTER,
    KeyTimes,
    pending,
    retirable,
    signing_at,
)
from shared.auth.verifier import ACCESS_TOKEN_MAX_LIFETIME, LEEWAY_S

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
FIRST = KeyTimes("first", T0)
SECOND = KeyTimes("second", T0 + timedelta(days=30))
THIRD = KeyTimes("third", T0 + timedelta(days=60))


def test_the_key_that_started_last_signs() -> None:
    keys = [SECOND, FIRST, THIRD]
    assert signing_at(keys, T0) is FIRST
    assert signing_at(keys, SECOND.signs_from - timedelta(seconds=1)) is FIRST
    assert signing_at(keys, SECOND.signs_from) is SECOND
    assert signing_at(keys, THIRD.signs_from + timedelta(days=1)) is THIRD
    # A clock behind every start still signs, with the first key.
    assert signing_at(keys, T0 - timedelta(hours=1)) is FIRST
    with pytest.raises(ValueError, match="no signing key"):
        signing_at([], T0)


def test_pending_keys_are_the_ones_not_signing_yet() -> None:
    assert pending([FIRST, SECOND], T0) == [SECOND]
    assert pending([FIRST, SECOND], SECOND.signs_from) == []


def test_a_key_is_retirable_once_superseded_long_enough() -> None:
    keys = [FIRST, SECOND, THIRD]
    superseded = SECOND.signs_from
    assert retirable(keys, superseded + RETIRE_AFTER - timedelta(seconds=1)) == []
    assert retirable(keys, superseded + RETIRE_AFTER) == [FIRST]
    assert retirable(keys, THIRD.signs_from + RETIRE_AFTER) == [FIRST, SECOND]
    # The signing key never, however old; a key whose successor has not started, never either.
    assert retirable([FIRST], T0 + timedelta(days=365)) == []
    assert retirable([FIRST, SECOND], SECOND.signs_from - timedelta(seconds=1)) == []
    assert retirable(keys, SECOND.signs_from + timedelta(hours=1), after=timedelta(minutes=30)) == [FIRST]


def test_the_delays_cover_what_they_wait_for() -> None:
    # A verifier may hold a JWKS answer fetched from a process that had not reloaded yet for the
    # cache's max-age, and refetches for an unknown key at most every 30 s.
    assert JWKS_MAX_AGE + MAX_RELOAD_INTERVAL + timedelta(seconds=30) <= PUBLISH_AHEAD
    # A token signed just before the switch lives the longest allowed lifetime (and the verifier's
    # leeway); a replica may take up the switch one reload late.
    assert ACCESS_TOKEN_MAX_LIFETIME + MAX_RELOAD_INTERVAL + timedelta(seconds=LEEWAY_S) <= RETIRE_AFTER
