"""Domains' authorization model, per customer, in the API process's memory between changes.

The model itself stays the tables `AuthorizationProjection` keeps in domains' database from
contacts.events (the worker's Kafka consumer). Reading a customer's view there costs three
queries per command; instead each API process keeps every row of the customers it served
(`CustomerAuthorizations`, answering `view` exactly like the SQL) and drops a customer when
the consumer commits a change for it: the worker's projection NOTIFYs `authorization_changed`
with the customer number in the same transaction (`projections/authorization.py`), delivered at
commit, and every API process LISTENs on one connection of its own.

Never stale beyond the notification's delivery (well under a millisecond on one machine):

* a load that overlaps any notification is used once and not kept (it may predate the change);
* while the listening connection is down (start-up, database restart) nothing is kept and
  every view is read from the tables; when it comes back, everything kept before is dropped,
  since notifications may have been missed meanwhile.

`synced()` waits until every change committed before the call has been seen (a marker sent on
the same channel comes back after them): tests use it as a barrier, it costs a round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import OrderedDict
from datetime import datetime
from typing import Any

import asyncpg
import structlog

from services.domains.projections.authorization import CHANNEL, EVERYONE
from shared import db
from shared.authorization.identifiers import Requester
from shared.authorization.memory import CustomerAuthorizations
from shared.authorization.model import AuthorizationView
from shared.authorization.queries import load_customer
from shared.db import Connection, Pool
from shared.waiting import Backoff

log = structlog.get_logger(__name__)

_MARKER = "synced:"


class AuthorizationCache:
    def __init__(self, pool: Pool, dsn: str, *, consumer: str | None = None, limit: int = 200_000) -> None:
        self._pool = pool
        self._dsn = dsn
        self._consumer = consumer  # the copy's consumer: its applied stream versions are read too
        self._limit = limit
        self._customers: OrderedDict[str, CustomerAuthorizations] = OrderedDict()
        self._changes = 0  # notifications seen; a load overlapping one is not kept
        self._listening = False
        self._markers: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="authorization-cache")

    async def view(
        self, customer_number: str, requester: Requester, at: datetime, conn: Connection | None = None
    ) -> AuthorizationView:
        """`conn`: the request's connection if it holds one; else one is borrowed, only on a miss."""
        return (await self.customer(customer_number, conn)).view(requester, at)

    async def customer(self, customer_number: str, conn: Connection | None = None) -> CustomerAuthorizations:
        """The customer's model as kept (its `version`: the stream version its rows reflect)."""
        kept = self._customers.get(customer_number)
        if kept is None:
            changes, listening = self._changes, self._listening
            if conn is None:
                async with self._pool.acquire() as borrowed:
                    kept = await load_customer(borrowed, customer_number, self._consumer)
            else:
                kept = await load_customer(conn, customer_number, self._consumer)
            if listening and self._listening and changes == self._changes:
                self._keep(customer_number, kept)
        else:
            self._customers.move_to_end(customer_number)
        return kept

    def holds(self, customer_number: str) -> bool:
        return customer_number in self._customers

    async def synced(self, timeout: float = 10.0) -> None:
        """Return once every change committed before this call has dropped what it concerns."""
        marker = _MARKER + uuid.uuid4().hex
        seen = self._markers[marker] = asyncio.Event()
        try:
            await self._pool.execute("SELECT pg_notify($1, $2)", CHANNEL, marker)
            await asyncio.wait_for(seen.wait(), timeout)
        finally:
            del self._markers[marker]

    def _keep(self, customer_number: str, kept: CustomerAuthorizations) -> None:
        self._customers[customer_number] = kept
        while len(self._customers) > self._limit:
            self._customers.popitem(last=False)

    def _forget_all(self) -> None:
        self._changes += 1
        self._customers.clear()

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        self._changes += 1
        assert isinstance(payload, str)
        if payload.startswith(_MARKER):
            marker = self._markers.get(payload)
            if marker is not None:
                marker.set()
            return
        if payload == EVERYONE:  # the copy was replaced (`shared.rebuild.replace_live_copy`)
            self._customers.clear()
        else:
            self._customers.pop(payload, None)

    async def _listen(self) -> None:
        """Hold the LISTEN connection until the service closes its pool (hooks have no stop signal)."""
        backoff = Backoff()
        while not self._pool.is_closing():
            lost = asyncio.Event()
            conn: asyncpg.Connection[asyncpg.Record] | None = None
            try:
                conn = await db.connect(self._dsn)
                conn.add_termination_listener(lambda _, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._on_notification)
                self._forget_all()  # whatever was kept may have missed notifications
                self._listening = True
                backoff.reset()
                while not self._pool.is_closing() and not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), 0.5)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("authorization_cache_listener_failed", error=repr(exc))
            finally:
                self._listening = False
                self._forget_all()
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close(timeout=2)
            if not self._pool.is_closing():
                await backoff.wait(asyncio.Event())
