"""A local SMTP server that delivers nowhere: every message is kept where a developer can read it.

The services send real SMTP in every environment; on one machine this sink receives it. Each
message is written to `<mail_dir>/<received-at>-<n>.eml` (open it with any mail client) and kept
in `messages` for tests, which can wait for the one they expect (the one-time password e-mail).
The envelope is recorded in `X-Envelope-From` / `X-Envelope-To` headers, since Bcc recipients
appear nowhere else.

Run on its own for `make run`:  python -m shared.infra.smtp_sink --dir .state/mail --port 2525
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import structlog
from aiosmtpd.controller import Controller

from shared.infra.processes import (
    alive_pid_from_file,
    ensure_port_free,
    file_lock,
    port_is_open,
    spawn_server,
    stop_process_group,
    stop_server,
    wait_for_child,
)

log = structlog.get_logger(__name__)

_REPO_ROOT = Path(__file__).resolve().parents[2]
_MODULE = "shared.infra.smtp_sink"


class _BoundPortController(Controller):
    """aiosmtpd's Controller, able to listen on port 0.

    The stock controller checks readiness by connecting to the configured port, which for 0
    means nothing; once the server is bound we learn the real port from its socket first.
    """

    def _trigger_server(self) -> None:
        if self.port == 0 and isinstance(self.server, asyncio.Server):
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpSink:
    """An SMTP server on host:port storing what it receives (in `mail_dir` if given, and in memory)."""

    def __init__(self, mail_dir: Path | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.mail_dir = mail_dir
        self.host = host
        self.port = port
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._sequence = itertools.count(1)
        self._controller: _BoundPortController | None = None

    def start(self) -> int:
        """Start listening (in a background thread) and return the port actually bound."""
        if self.mail_dir is not None:
            self.mail_dir.mkdir(parents=True, exist_ok=True)
        controller = _BoundPortController(self, hostname=self.host, port=self.port)
        controller.start()
        self._controller = controller
        self.port = int(controller.port)
        log.info("smtp_sink_started", host=self.host, port=self.port, mail_dir=str(self.mail_dir))
        return self.port

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
            log.info("smtp_sink_stopped", port=self.port)

    async def wait_for(
        self, predicate: Callable[[EmailMessage], bool] = lambda _message: True, timeout: float = 10.0
    ) -> EmailMessage:
        """The first received message (earlier or within `timeout` seconds) matching `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                for message in self.messages:
                    if predicate(message):
                        return message
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no matching message arrived within {timeout:.0f} s")
            # Messages arrive on the controller's own thread and loop, so polling is the simple
            # honest way to watch them from the caller's loop.
            await asyncio.sleep(0.05)

    # aiosmtpd calls this hook (by name) for every message once DATA is complete.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        envelope_headers = (
            f"X-Envelope-From: {envelope.mail_from}\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        raw: bytes = envelope_headers + envelope.original_content
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)  # guaranteed by policy.default
        number = next(self._sequence)
        if self.mail_dir is not None:
            received_at = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            path = self.mail_dir / f"{received_at}-{number}.eml"
            path.write_bytes(raw)
        with self._lock:
            self.messages.append(message)
        # Recipients only: a subject may well carry a code or a name that has no place in a log.
        log.info("smtp_message_received", to=envelope.rcpt_tos, number=number)
        return "250 Message accepted for delivery"


class SmtpSinkProcess:
    """The sink as a detached background process for `make run`, reused while it is running.

    Messages go to `<state_dir>/mail/`; the process's pid file and output to `<state_dir>/smtp/`.
    """

    def __init__(self, state_dir: Path, port: int, host: str = "127.0.0.1", *, startup_timeout: float = 15.0) -> None:
        self.root = state_dir.absolute() / "smtp"
        self.mail_dir = state_dir.absolute() / "mail"
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.started_here = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid_file(self) -> Path:
        return self.root / "smtp-sink.pid"

    @property
    def process_log(self) -> Path:
        return self.root / "smtp-sink.log"

    def start(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / "launcher.lock"):
            pid = alive_pid_from_file(self.pid_file, must_contain=_MODULE)
            if pid is not None:
                if port_is_open(self.host, self.port):
                    log.info("smtp_sink_reused", pid=pid, port=self.port)
                    return self.port
                stop_process_group(pid, timeout=5.0)  # alive but deaf (another port?): replace it
            ensure_port_free(self.host, self.port, "the SMTP sink")
            command = [
                sys.executable, "-m", _MODULE,
                "--dir", str(self.mail_dir), "--host", self.host, "--port", str(self.port),
            ]  # fmt: skip
            # Run from the repository root so that `-m shared.infra.smtp_sink` resolves even
            # without an installed package.
            self._process = spawn_server(command, pid_file=self.pid_file, log_file=self.process_log, cwd=_REPO_ROOT)
            self.started_here = True

            wait_for_child(
                "SMTP sink",
                self._process,
                lambda: port_is_open(self.host, self.port),
                timeout=self.startup_timeout,
                what=f"the SMTP sink on port {self.port}",
                logs=[self.process_log],
            )
        return self.port

    def stop(self) -> None:
        stop_server(self.pid_file, _MODULE, self._process, timeout=10.0)
        self._process = None
        self.started_here = False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local SMTP sink: stores every message as an .eml file.")
    parser.add_argument("--dir", type=Path, required=True, help="directory for the .eml files")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    arguments = parser.parse_args(argv)

    sink = SmtpSink(arguments.dir, host=arguments.host, port=arguments.port)
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: stopping.set())
    sink.start()
    stopping.wait()
    sink.stop()


if __name__ == "__main__":
    main()
