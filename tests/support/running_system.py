"""The whole system as `make run` starts it (launcher, services, gateway), in its own state
directory on free ports, for tests that use it as a user or an operator would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from shared.infra.processes import free_port

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("identity", "contacts", "billing", "domains")


class RunningSystem:
    def __init__(self, process: subprocess.Popen[str], gateway: str, env: dict[str, str], state: Path) -> None:
        self.process = process
        self.gateway = gateway
        self.env = env
        self.state = state
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.output):
                if match := re.search(pattern, line):
                    return match
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no line matching {pattern!r}; output:\n{''.join(self.output[-60:])}")

    def login(self, who: str) -> tuple[str, dict[str, str]]:
        """The path and body that log a seeded user in: the demo customer ("customer") or a demo
        staff user ("support", "compliance", "admin")."""
        if who == "customer":
            found = self.latest_line(r"customer number\s+(\d+)\s+password\s+(\S+)", timeout=30)
            return "/api/identity/v1/sessions", {"customer_number": found.group(1), "password": found.group(2)}
        password = self.latest_line(rf"staff user\s+demo-{who}\s+password\s+(\S+)", timeout=30).group(1)
        return "/api/identity/v1/staff-sessions", {"username": f"demo-{who}", "password": password}

    def latest_line(self, pattern: str, timeout: float) -> re.Match[str]:
        """The last line matching so far (`make passwords` prints new ones), once there is one."""
        self.wait_for_line(pattern, timeout)
        return next(found for line in reversed(list(self.output)) if (found := re.search(pattern, line)))

    def bearer(self, who: str) -> dict[str, str]:
        """The Authorization header of a fresh session of a seeded user (`login`)."""
        path, body = self.login(who)
        response = httpx.post(f"{self.gateway}{path}", json=body, timeout=30)
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def port(self, name: str) -> int:
        """A port the launcher was given: `postgres`, `kafka`, `kafka_controller`, ..."""
        return int(self.env[f"INFRA_{name.upper()}_PORT"])


@contextmanager
def running_system(state: Path, *, log_level: str = "WARNING") -> Iterator[RunningSystem]:
    gateway_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SMTP_HOST")},
        "INFRA_STATE_DIR": str(state),
        "INFRA_GATEWAY_PORT": str(gateway_port),
        "INFRA_POSTGRES_PORT": str(free_port()),
        "INFRA_KAFKA_PORT": str(free_port()),
        "INFRA_KAFKA_CONTROLLER_PORT": str(free_port()),
        "INFRA_SMTP_PORT": str(free_port()),
        **{f"{s.upper()}_PORT": str(free_port()) for s in (*SERVICES, "compliance")},
        "LOG_LEVEL": log_level,
    }
    # Started as a script's `make run &` starts it: with SIGINT ignored (POSIX shells do so for
    # background jobs; the child inherits it). Ctrl-C must stop it all the same: see the teardown.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.infra.run"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    running = RunningSystem(process, f"http://127.0.0.1:{gateway_port}", env, state)
    try:
        running.wait_for_line(r"Ctrl-C stops everything", timeout=120)
        yield running
    finally:
        if process.poll() is None:
            # To the launcher alone (Ctrl-C reaches the whole group): it must stop the rest itself.
            os.kill(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise AssertionError("SIGINT to the launcher did not stop the running system within 60 s") from None
