"""`make run`: the whole system on one machine, in the foreground, until Ctrl-C.

Brings up (or reuses) PostgreSQL, Kafka and the SMTP sink through `stack`, starts the four
services as child processes (`python -m services.<name> all`: API and workers in one process),
waits until each reports ready, then puts the Caddy gateway in front of them. Ctrl-C, or any
service dying, stops the services, the gateway and whatever infrastructure this run started;
servers reused from an earlier run, or configured through the environment, keep running.

    python -m shared.infra.run          run everything in the foreground
    python -m shared.infra.run stop     stop embedded servers left in the state directory
    python -m shared.infra.run passwords  new passwords for the seeded logins of the running system
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx
import structlog

from shared.audit.checkpoints import checkpoint_topic_spec
from shared.audit.serve import DEFAULT_PORT as COMPLIANCE_PORT
from shared.audit.serve import SERVICE as COMPLIANCE
from shared.infra.errors import StartupFailed
from shared.infra.gateway import CaddyGateway
from shared.infra.kafka import TopicSpec
from shared.infra.processes import wait_until
from shared.infra.stack import (
    REPO_ROOT,
    InfraConfig,
    Infrastructure,
    running_postgres_server,
    start_infrastructure,
    stop_embedded,
)
from shared.kafka import topic_for
from shared.settings import DEFAULT_PORTS, database_name

log = structlog.get_logger(__name__)

SERVICES = tuple(DEFAULT_PORTS)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = sys.argv[1:] if argv is None else list(argv)
    config = InfraConfig()
    if arguments == ["stop"]:
        # For servers a crashed or killed run left behind (the next run would reuse them).
        stop_embedded(config.state_dir)
        return
    if arguments == ["passwords"]:
        _seed(_running_system_environment(config), "--reset-passwords")
        return
    if arguments:
        raise SystemExit("usage: python -m shared.infra.run [stop | passwords]")
    config.state_dir.mkdir(parents=True, exist_ok=True)
    with _single_run(config.state_dir, config.gateway_port):
        _run(config)


@contextlib.contextmanager
def _single_run(state_dir: Path, gateway_port: int) -> Iterator[None]:
    """Hold `run.lock` for the whole run, so that a second `make run` says so and leaves."""
    lock_path = state_dir / "run.lock"
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise SystemExit(
                f"make run is already running ({holder}); the gateway is at http://127.0.0.1:{gateway_port}.\n"
                "Stop it with Ctrl-C in its terminal (or `python -m shared.infra.run stop` after a crash)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(config: InfraConfig) -> None:
    infra = start_infrastructure(
        config.state_dir,
        postgres_port=config.postgres_port,
        kafka_port=config.kafka_port,
        kafka_controller_port=config.kafka_controller_port,
        databases=[database_name(service) for service in SERVICES],
        topics=[
            *(TopicSpec(topic_for(service)) for service in SERVICES),
            *(checkpoint_topic_spec(service) for service in SERVICES),
        ],
        smtp_port=config.smtp_port,
    )
    gateway = CaddyGateway(config.state_dir, config.gateway_port, _service_ports())
    services: dict[str, subprocess.Popen[bytes]] = {}
    stopping = threading.Event()
    # SIGTERM (from a supervisor) takes the same orderly way out as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started as a background job of a script: the shell had SIGINT ignored, and Python keeps
        # what it inherits. `kill -INT` is then someone asking on purpose: it stops us as Ctrl-C does.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        identity_port = gateway.routes["identity"]
        env = {
            **os.environ,
            **infra.environment(),
            "PORTAL_URL": gateway.url,
            # Every service verifies tokens locally with identity's published keys.
            "IDENTITY_JWKS_URL": f"http://127.0.0.1:{identity_port}/api/identity/.well-known/jwks.json",
        }
        for service in gateway.routes:
            services[service] = _start_service(service, env)
        for service, port in gateway.routes.items():
            _wait_until_ready(service, port, services[service])
        gateway.start()
        _seed(env)
        _print_summary(infra, gateway, config.state_dir)
        while not stopping.is_set():
            exited = [name for name, process in services.items() if process.poll() is not None]
            if exited:
                log.error("service_exited", services=exited)
                break
            stopping.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        log.info("stopping")
        _stop_services(services)
        if gateway.started_here:
            gateway.stop()
        infra.stop()


def _seed(env: Mapping[str, str], *options: str) -> None:
    """The development seed: a demo customer and one staff user per role, unless they exist.
    Its credentials go to this terminal only."""
    subprocess.run(
        [sys.executable, "-m", "services.identity", "seed", *options],
        cwd=REPO_ROOT,
        env=dict(env),
        check=False,
        timeout=120,
    )


def _running_system_environment(config: InfraConfig) -> dict[str, str]:
    """The environment of the `make run` in this state directory, as far as identity's seed needs it:
    the configured database, else the embedded server, which must be running."""
    env = dict(os.environ)
    if "IDENTITY_DATABASE_URL" in env or "DATABASE_URL" in env:
        return env
    server = running_postgres_server(config)
    if server is None:
        raise SystemExit(f"no PostgreSQL of make run is running in {config.state_dir}: start `make run` first")
    env["DATABASE_URL"] = server
    return env


def _service_ports() -> dict[str, int]:
    # The same variables shared.settings reads, so the gateway points where the services listen.
    ports = {service: int(os.environ.get(f"{service.upper()}_PORT", port)) for service, port in DEFAULT_PORTS.items()}
    # The compliance API reads the topics only; it sits beside the four services.
    ports[COMPLIANCE] = int(os.environ.get("COMPLIANCE_PORT", COMPLIANCE_PORT))
    return ports


def _start_service(service: str, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    module = "shared.audit.serve" if service == COMPLIANCE else f"services.{service}"
    process = subprocess.Popen(
        [sys.executable, "-m", module, *([] if service == COMPLIANCE else ["all"])],
        cwd=REPO_ROOT,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert process.stdout is not None
    threading.Thread(target=_relay_output, args=(service, process.stdout), daemon=True).start()
    return process


def _relay_output(service: str, stream: IO[bytes]) -> None:
    """Copy a service's output to ours, each line tagged with the service's name."""
    width = max(len(name) for name in (*SERVICES, COMPLIANCE))
    for line in stream:
        sys.stdout.write(f"{service:<{width}} | {line.decode(errors='replace')}")
        sys.stdout.flush()


def _wait_until_ready(service: str, port: int, process: subprocess.Popen[bytes]) -> None:
    url = f"http://127.0.0.1:{port}/api/{service}/readyz"

    def ready() -> bool:
        if process.poll() is not None:
            raise StartupFailed(service, f"the process exited with code {process.returncode} (see its output above)")
        try:
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, timeout=60.0, what=f"{service} at {url}", interval=0.3)
    except TimeoutError as timeout:
        raise StartupFailed(service, str(timeout)) from None


def _stop_services(services: Mapping[str, subprocess.Popen[bytes]]) -> None:
    # Ctrl-C already reached the services (same process group); SIGTERM covers the other exits.
    for process in services.values():
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
    deadline = time.monotonic() + 20.0
    for process in services.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _print_summary(infra: Infrastructure, gateway: CaddyGateway, state_dir: Path) -> None:
    lines = [
        "",
        f"  portal / API gateway   {gateway.url}   (/api/<service>/docs for each service)",
        f"  PostgreSQL             {infra.postgres_server_dsn}",
        f"  Kafka                  {infra.kafka_bootstrap}",
    ]
    if infra.smtp is not None:
        lines.append(f"  mail sink              smtp://{infra.smtp[0]}:{infra.smtp[1]}  -> {state_dir}/mail/*.eml")
    lines += ["  Ctrl-C stops everything started here.", ""]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
