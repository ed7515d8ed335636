"""Running a reader of the event store at every commit, and never letting it die silently.

The store NOTIFYs `events_appended` when an appending transaction commits (a statement trigger,
delivered only at commit). A reader (the relay, a projection runner, an in-process copy) LISTENs
on one pooled connection and reads again when woken; a slow fallback poll covers a notification
lost while reconnecting. A failing round is logged and retried with backoff from the reader's
saved position. When the database restarts, asyncpg takes the listening connection back into the
pool by itself; the reader notices (a termination listener wakes it) and listens on a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from shared.db import Pool, PooledConnection, is_usable
from shared.waiting import Backoff, wait_any

log = structlog.get_logger(__name__)

NOTIFY_CHANNEL = "events_appended"


async def run_on_commits(
    pool: Pool,
    read: Callable[[], Awaitable[object]],
    stop: asyncio.Event,
    *,
    reader: str,
    poll_s: float,
    on_error: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Call `read` now and after every commit until `stop` is set or the pool closes."""
    wake = asyncio.Event()

    def on_notify(*_: object) -> None:  # a commit, or (as termination listener) the connection lost
        wake.set()

    listener: PooledConnection | None = None
    backoff = Backoff()
    try:
        while not stop.is_set() and not pool.is_closing():
            try:
                if listener is not None and not is_usable(listener):
                    await _let_go(pool, listener, on_notify)
                    listener = None
                if listener is None:
                    listener = await pool.acquire()
                    listener.add_termination_listener(on_notify)
                    await listener.add_listener(NOTIFY_CHANNEL, on_notify)
                wake.clear()
                await read()
                await wait_any(wake, stop, timeout=poll_s)
                backoff.reset()
            except Exception as exc:
                # Database or broker away, a poisoned batch: log, back off, retry.
                if pool.is_closing():
                    return
                log.error("store_reader_round_failed", reader=reader, error=repr(exc))
                if listener is not None:  # it may be what failed: listen on a fresh one next round
                    await _let_go(pool, listener, on_notify)
                    listener = None
                if on_error is not None:
                    with contextlib.suppress(Exception):
                        await on_error()
                await backoff.wait(stop)
    finally:
        # Always give the connection back: the pool's close() waits for every connection.
        if listener is not None:
            await _let_go(pool, listener, on_notify)


async def _let_go(pool: Pool, conn: PooledConnection, on_notify: Callable[..., None]) -> None:
    """Stop listening and give the connection back, in whatever state the database left it."""
    # Best effort: a connection the database dropped fails here in more ways than one (closed,
    # taken back, or asyncpg's protocol caught between two states), and asyncpg terminates a
    # connection it cannot reset on release, which returns its slot to the pool all the same.
    if is_usable(conn):
        conn.remove_termination_listener(on_notify)
        with contextlib.suppress(Exception):
            await conn.remove_listener(NOTIFY_CHANNEL, on_notify)
    with contextlib.suppress(Exception):
        await pool.release(conn)  # a no-op for a connection asyncpg has taken back already
