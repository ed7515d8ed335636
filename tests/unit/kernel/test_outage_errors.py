"""Which errors mean "the database is away" (503, try again) rather than a bug (500)."""

from __future__ import annotations

import asyncpg
import pytest

from shared.db import is_outage
from shared.http.problems import failure_response


@pytest.mark.parametrize(
    "exc",
    [
        ConnectionResetError(104, "Connection reset by peer"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InterfaceError("cannot call Connection.fetch(): connection has been released back to the pool"),
        # What the next statement on a connection that broke under it meets (seen at the instant of a drop).
        asyncpg.InternalClientError('cannot switch to state 13; protocol is in the "failed" state'),
        asyncpg.InternalClientError("not connected"),
    ],
    ids=repr,
)
def test_a_broken_or_refused_connection_is_an_outage_answered_503(exc: Exception) -> None:
    assert is_outage(exc)
    response = failure_response(exc, "/x")
    assert (response.status_code, response.headers["retry-after"]) == (503, "5")


@pytest.mark.parametrize(
    "exc",
    [
        # One connection used by two operations at once: our bug, not the database's absence.
        asyncpg.InternalClientError("cannot switch to state 15; another operation (13) is in progress"),
        asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
        asyncpg.exceptions.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.exceptions.UndefinedColumnError('column "x" does not exist'),
        KeyError("x"),
    ],
    ids=repr,
)
def test_a_bug_is_no_outage_and_answered_500(exc: Exception) -> None:
    assert not is_outage(exc)
    assert failure_response(exc, "/x").status_code == 500
