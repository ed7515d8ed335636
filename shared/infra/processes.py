"""Process and port plumbing shared by the launchers.

Every launcher follows the same pattern: take a lock on its state directory, look for a server
it (or an earlier run) left behind, otherwise spawn one detached, wait until it really answers,
and later stop it by process group. The small pieces of that pattern live here so that each
launcher reads as the recipe for its own server only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from shared.infra.errors import StartupFailed, StateConflict

T = TypeVar("T")


# --- pid files and liveness -------------------------------------------------------------------


def read_pid_file(path: Path) -> int | None:
    """The pid in `path` (first line, as postmaster.pid also has it), or None if absent/garbled."""
    try:
        first_line = path.read_text().splitlines()[0]
        return int(first_line.strip())
    except (OSError, IndexError, ValueError):
        return None


def write_pid_file(path: Path, pid: int) -> None:
    # Written via a temporary name so that a concurrent reader never sees an empty file.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(f"{pid}\n")
    tmp.replace(path)


def is_process_alive(pid: int) -> bool:
    """True if `pid` exists and is not a zombie.

    A detached server we spawned stays a zombie until this process reaps it, and kill(pid, 0)
    succeeds on zombies, so the state in /proc decides.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (not Linux): trust kill()
    # The command name in parentheses may contain spaces; the state follows the last ')'.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def process_command_line(pid: int) -> str:
    """The command line of `pid` joined by spaces, '' if unknown; used to guard against pid reuse."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def alive_pid_from_file(path: Path, must_contain: str) -> int | None:
    """The pid recorded in `path` if that process is alive and its command line mentions
    `must_contain` (after a reboot or in a fresh container the number may belong to anything)."""
    pid = read_pid_file(path)
    if pid is None or not is_process_alive(pid):
        return None
    command = process_command_line(pid)
    if command and must_contain not in command:
        return None
    return pid


# --- ports ------------------------------------------------------------------------------------


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure_port_free(host: str, port: int, what: str) -> None:
    """Refuse to start `what` on a port something else already answers on: the readiness check
    would otherwise happily talk to that other server and report success."""
    if port_is_open(host, port):
        raise StateConflict(f"cannot start {what}: {host}:{port} is already in use by another process")


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out as free. Someone may take it before we bind it; tests
    accept that small race in exchange for never hard-coding ports."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# --- waiting ----------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> float:
    """Poll `predicate` until it holds; return the seconds waited or raise TimeoutError.

    The predicate may raise to abort early (a launcher raises StartupFailed when its process
    has exited, which is better than waiting out the full timeout).
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def spawn_server(
    command: Sequence[str], *, pid_file: Path, log_file: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server in the background and record its pid, so a later launcher can find it."""
    process = spawn_detached(command, log_file=log_file, cwd=cwd, env=env)
    write_pid_file(pid_file, process.pid)
    return process


def stop_server(
    pid_file: Path, must_contain: str, child: subprocess.Popen[bytes] | None, *, timeout: float
) -> tuple[int | None, bool]:
    """Stop the server named in `pid_file` if it is still ours, forget the pid file and reap our
    child; returns (the pid stopped or None, whether it stopped gracefully)."""
    pid = alive_pid_from_file(pid_file, must_contain=must_contain)
    graceful = True
    if pid is not None:
        graceful = stop_process_group(pid, timeout=timeout)
    pid_file.unlink(missing_ok=True)
    reap(child)
    return pid, graceful


def wait_for_child(
    name: str,
    process: subprocess.Popen[bytes] | None,
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    logs: Sequence[Path],
) -> None:
    """Wait until `ready()` holds for a server this launcher started. If the child exits first,
    or time runs out, raise StartupFailed with the tail of its logs (not a bare timeout)."""

    def check() -> bool:
        if process is not None and process.poll() is not None:
            raise StartupFailed(name, f"{what} exited with code {process.returncode}", log_tail(*logs))
        return ready()

    try:
        wait_until(check, timeout=timeout, what=what)
    except TimeoutError as timed_out:
        raise StartupFailed(name, str(timed_out), log_tail(*logs)) from None


def run_blocking(make_coroutine: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from synchronous code.

    The launchers are synchronous (starting servers is blocking work anyway) but a few checks
    need asyncio clients (aiokafka, asyncpg). The coroutine always gets a fresh event loop in a
    worker thread: that works whether or not the caller runs a loop (an async pytest fixture
    does), and it never touches the caller's thread's current-loop setting, which asyncio.run()
    in the main thread would reset. A factory is taken rather than a coroutine so that nothing
    is created on one loop and awaited on another.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="infra") as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


# --- spawning and stopping --------------------------------------------------------------------


def as_user(user: str | None) -> dict[str, Any]:
    """subprocess keyword arguments that run the child as system user `user` (None: as we are)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    # Without group and extra_groups the child would keep root's groups.
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def spawn_detached(
    command: Sequence[str],
    *,
    log_file: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session (own process group), output appended to `log_file`.

    Its own session means Ctrl-C in the terminal that ran `make run` does not reach the server,
    and stop_process_group() can take down the server together with any children it forked.
    """
    with log_file.open("ab") as log:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
            start_new_session=True,
            close_fds=True,
            **as_user(user),
        )


def stop_process_group(
    pid: int,
    *,
    graceful: signal.Signals = signal.SIGTERM,
    timeout: float = 30.0,
    forceful: signal.Signals = signal.SIGKILL,
    whole_group: bool = True,
) -> bool:
    """Send `graceful` to the process group led by `pid` (or to `pid` alone), wait, then `forceful`.

    Returns True if the process stopped within `timeout`, False if it had to be killed.
    """
    if not is_process_alive(pid):
        return True
    send = _signal_group if whole_group else _signal_process
    send(pid, graceful)
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not is_process_alive(pid), timeout=timeout, what=f"pid {pid} to exit")
        return True
    send(pid, forceful)
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not is_process_alive(pid), timeout=10.0, what=f"pid {pid} to die")
    return False


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        # Not a group leader we may signal (started by someone else): signal the process only.
        _signal_process(pid, sig)


def _signal_process(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def reap(process: subprocess.Popen[bytes] | None) -> None:
    """Collect the exit status of a child we spawned so that it does not linger as a zombie."""
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


# --- state directory helpers ------------------------------------------------------------------


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock, held across processes, so that two launchers pointed at the
    same state directory (two pytest workers, `make run` twice) do not both start a server."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def log_tail(*paths: Path, lines: int = 40) -> str:
    """The last `lines` lines of each existing file, for error messages."""
    parts: list[str] = []
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        tail = "\n".join(text.splitlines()[-lines:])
        if tail:
            parts.append(f"[{path}]\n{tail}" if len(paths) > 1 else tail)
    return "\n".join(parts)
