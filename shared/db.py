"""PostgreSQL plumbing: connection pools with JSON codecs, and a tiny migration runner.

Each service owns one database. Its schema is the kernel's migrations (event store, reader
positions) followed by the service's own `migrations/*.sql`, applied in name order, each once,
under an advisory lock so that several replicas starting together do not race.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

if TYPE_CHECKING:
    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
    PooledConnection: TypeAlias = PoolConnectionProxy[asyncpg.Record]
    # A plain connection or one borrowed from a pool: both run queries the same way.
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Pool = asyncpg.Pool
    PooledConnection = PoolConnectionProxy
    Connection = asyncpg.Connection | PoolConnectionProxy

MIGRATION_LOCK = 0x5EED_0001

# What a database that is down, restarting or out of connections raises. A request that meets one
# can be tried again shortly: the services answer it with 503, not 500 (shared.http.problems).
UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,  # refused, reset, unreachable; TimeoutError is one too
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08: the connection failed or is gone
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutting down, starting up, cancelled
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
)
# ... and the types whose instances may say so (see is_outage).
OUTAGE_TYPES: tuple[type[Exception], ...] = (*UNAVAILABLE, asyncpg.InterfaceError, asyncpg.InternalClientError)
# asyncpg's words for a connection that broke under the caller: a pooled connection it took back
# (the next statement of a transaction raises this instead of a 08xxx error), and a protocol left
# failed or disconnected by the drop. "another operation is in progress" is not among them: that
# is our code using one connection twice at once, a bug.
_BROKEN_CONNECTION = ("released back to the pool", 'protocol is in the "failed" state', "not connected")


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` says the database is away rather than that our code is wrong."""
    if isinstance(exc, UNAVAILABLE):
        return True
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.InternalClientError):
        text = str(exc)
        return any(words in text for words in _BROKEN_CONNECTION)
    return False


def is_usable(conn: Connection) -> bool:
    """Whether a connection still reaches the database. asyncpg takes a pooled connection back
    into the pool by itself when it breaks; what the caller holds then refuses every call."""
    try:
        return not conn.is_closed()
    except asyncpg.InterfaceError:
        return False


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Released connections skip asyncpg's default `RESET ALL; UNLISTEN *; ...` round trip.

    asyncpg still rolls back an open transaction and drops Python-side listeners; our code
    leaves no other session state behind (no session advisory locks; `search_path` is reset
    where it is set), so the extra round trip on every request buys nothing.
    """


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
    )
    assert pool is not None
    return pool


async def connect(dsn: str) -> asyncpg.Connection[asyncpg.Record]:
    conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn


def kernel_migrations() -> list[tuple[str, str]]:
    base = resources.files("shared.eventstore") / "migrations"
    return sorted((f"kernel/{p.name}", p.read_text()) for p in base.iterdir() if p.name.endswith(".sql"))


def directory_migrations(prefix: str, directory: Path) -> list[tuple[str, str]]:
    return sorted((f"{prefix}/{p.name}", p.read_text()) for p in directory.glob("*.sql"))


async def migrate(conn: Connection, migrations: Sequence[tuple[str, str]]) -> list[str]:
    """Apply the migrations not yet applied; returns the names applied now."""
    applied_now: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migrations:
            if name in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied_now.append(name)
    return applied_now
