"""One service's API served by N processes on one port, connections dealt to them in turn.

The supervisor listens and accepts; each connection goes to the next API process that is ready
(the socket itself, passed over a Unix socket pair with SCM_RIGHTS), which serves it to the end.
Why not let the processes accept themselves:
- one shared listening socket (uvicorn's `workers=N`): a burst of new connections goes to
  whichever process wakes first, often all of them (measured with wrk: 16 connections all in one
  of two processes, 10,400 checks/s instead of 14,100, with one core idle);
- one SO_REUSEPORT socket per process: the kernel hashes connections over them, so the split is
  left to chance (wrk's 120 connections came as 67/53 or 63/57, 16 as 11/5; a gateway's few
  pooled connections could all land on one process).
Dealing in turn splits them evenly. Connections are long-lived (keep-alive, a gateway's pool),
so the supervisor's work per connection does not matter; a client opening a connection per
request would make the supervisor (one Python process) the limit.

A process gets connections only once its app has started (it says "ready" after the
lifespan's start-up), and the supervisor listens only once one is ready: no connection waits on
a process still loading. The supervisor restarts a process that dies (with a growing pause if it
dies young) and deals to the others meanwhile; on SIGTERM or SIGINT it stops them all gracefully
and exits 0.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import multiprocessing
import signal
import socket
import time
from collections.abc import Mapping
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import structlog
import uvicorn

log = structlog.get_logger(__name__)

# A process that lived shorter than this died young: wait longer before the next try.
_YOUNG_S = 10.0
_MAX_PAUSE_S = 30.0
_STOP_TIMEOUT_S = 30.0
_READY = b"ready"
_BACKLOG = 2048


def _bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), not listening yet."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class HandedConnectionsServer(uvicorn.Server):
    """uvicorn serving the connections its supervisor hands over, without a socket of its own."""

    def __init__(self, config: uvicorn.Config, handoff: socket.socket) -> None:
        super().__init__(config)
        self._handoff = handoff
        self._connecting: set[asyncio.Task[Any]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[])  # the app's lifespan; no listening socket
        if not self.started:
            return
        self._handoff.setblocking(False)
        asyncio.get_running_loop().add_reader(self._handoff.fileno(), self._take_connections)
        self._handoff.sendall(_READY)

    def _take_connections(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self._handoff, 1, 16)
            except BlockingIOError:
                return
            except OSError:
                message, fds = b"", []
            if not message:  # the supervisor is gone: finish what runs, then stop
                loop.remove_reader(self._handoff.fileno())
                self.should_exit = True
                return
            for fd in fds:
                sock = socket.socket(fileno=fd)
                sock.setblocking(False)
                task = loop.create_task(loop.connect_accepted_socket(self._protocol, sock))
                self._connecting.add(task)
                task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[Any]) -> None:
        self._connecting.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # (the client gone before the process took its connection: nothing to serve)
            log.warning("handed_connection_failed", error=repr(error))

    def _protocol(self) -> asyncio.Protocol:
        # What uvicorn's own start-up hands its listening servers as protocol factory.
        config = self.config
        protocol: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=self.server_state, app_state=self.lifespan.state
        )
        return protocol

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().remove_reader(self._handoff.fileno())  # no new connections
        await super().shutdown(sockets)


def _serve_one(service: str, server: Mapping[str, Any], handoff: socket.socket) -> None:
    """One API process (the target of a spawned child): its own app, connections handed to it."""
    from shared.logging_setup import configure_logging
    from shared.service import create_app
    from shared.settings import ServiceSettings

    settings = ServiceSettings.from_env(service)
    configure_logging(service, settings.log_level)
    spec = importlib.import_module(f"services.{service}.service").SPEC
    app = create_app(spec, settings, with_workers=False, settle_heap=True)
    HandedConnectionsServer(uvicorn.Config(app, **server), handoff).run()


class _Child:
    def __init__(self, process: BaseProcess, handoff: socket.socket) -> None:
        self.process = process
        self.handoff = handoff  # the supervisor's end of the pair
        self.started = time.monotonic()
        self.ready = False


def serve_in_processes(service: str, host: str, port: int, count: int, server: Mapping[str, Any]) -> None:
    """Run `count` API processes of `service` on host:port until SIGTERM or SIGINT."""
    # Bound here first: a port held by another program fails now, not later.
    listener = _bound_socket(host, port)
    listener.setblocking(False)
    listening = False
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}

    def start() -> _Child:
        ours, theirs = socket.socketpair()
        ours.setblocking(False)  # a process that stops reading must not stop the dealing
        process = context.Process(target=_serve_one, args=(service, dict(server), theirs), name=f"{service}-api")
        process.start()
        theirs.close()
        return _Child(process, ours)

    children: list[_Child | None] = [start() for _ in range(count)]
    restart_at: dict[int, float] = {}  # slot -> when its next process starts
    turn = itertools.count()
    pause = 1.0

    def deal(conn: socket.socket) -> None:
        """The connection to the next ready process, in turn; closed if none takes it."""
        ready = [c for c in children if c is not None and c.ready]
        for _ in range(len(ready)):
            child = ready[next(turn) % len(ready)]
            try:
                socket.send_fds(child.handoff, [b"c"], [conn.fileno()])
                return
            except BlockingIOError:
                continue  # its queue of connections not taken yet is full: the next one
            except OSError:
                child.ready = False  # (dying: its sentinel tells the loop below)
        conn.close()

    try:
        while not stopping:
            live = [c for c in children if c is not None]
            waitables: list[Any] = [c.process.sentinel for c in live] + [c.handoff for c in live if not c.ready]
            if listening:
                waitables.append(listener)
            due = list(restart_at.values())
            timeout = max(0.0, min(due) - time.monotonic()) if due else 0.5
            woke = wait(waitables, timeout=min(timeout, 0.5))
            for child in live:
                if child.handoff in woke and child.handoff.recv(len(_READY)) == _READY:
                    child.ready = True
                    if not listening:
                        listener.listen(_BACKLOG)
                        listening = True
            if listener in woke:
                while True:
                    try:
                        conn, _ = listener.accept()
                    except BlockingIOError:
                        break
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    with conn:
                        deal(conn)
            for slot, dead in enumerate(children):
                if dead is None or dead.process.is_alive():
                    continue
                lived = time.monotonic() - dead.started
                pause = min(pause * 2, _MAX_PAUSE_S) if lived < _YOUNG_S else 1.0
                log.warning("api_process_died", pid=dead.process.pid, exitcode=dead.process.exitcode,
                            lived_s=round(lived, 1), restart_in_s=pause)  # fmt: skip
                dead.handoff.close()
                children[slot] = None
                restart_at[slot] = time.monotonic() + pause
            for slot, at in list(restart_at.items()):
                if time.monotonic() >= at:
                    del restart_at[slot]
                    children[slot] = start()
    finally:
        live = [c for c in children if c is not None]
        for child in live:
            if child.process.is_alive():
                child.process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for child in live:
            child.process.join(max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                child.process.kill()
                child.process.join()
            child.handoff.close()
        listener.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
