"""What several benchmarks need: scratch databases, a stand-in for identity's JWKS, service
processes, and `wrk` driven by a Lua script that writes its figures as JSON."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from shared.auth.principal import PrincipalKind, Role
from shared.auth.testing import TestTokenIssuer
from shared.infra.postgres import new_database

REPO = Path(__file__).resolve().parents[1]

# The end of every wrk script: cycle through the requests `init` built, pause if asked, and write
# the summary where BENCH_RESULT says. Each benchmark prepends its own `init(args)`.
WRK_LUA_TAIL = r"""
function request()
  i = i % #requests + 1
  return requests[i]
end

-- The pause is drawn uniformly from 0..2x its mean, so that connections drift apart instead of
-- sending in step (a fixed pause keeps them in bursts, which measures queueing, not the server).
if pause > 0 then
  function delay() return math.random(0, 2 * pause) end
end

function done(summary, latency, requests)
  local out = io.open(os.getenv("BENCH_RESULT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "status_errors": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(99), latency.max))
  out:close()
end
"""


async def run_wrk_at_rate(
    url: str,
    script: Path,
    data: Path,
    rate: float,
    p50_ms: float,
    seconds: int,
    *,
    probe_data: Path | None = None,
    retry_data: Path | None = None,
) -> dict[str, float]:
    """wrk offering about `rate` requests/s (it has no fixed-rate mode): connections pausing
    between requests for a cycle of ~8 ms each (wrk's pause is whole milliseconds). The number of
    connections is set from the saturated latency `p50_ms`, then corrected from the rate a
    first run reached, aiming 5 % above `rate` (rounded up): the latency, and so the cycle, grows
    with the rate, so one correction from the probe can land short of what it aims at. A run
    that reached less than `rate` is corrected from once more and run again (once): the figures
    are the last run's, whatever its latency. `probe_data` / `retry_data`: the first and the third
    run's requests, when requests must not repeat (commands that create something)."""
    pause = max(1, round(8 - p50_ms))

    def corrected(connections: int, reached: dict[str, float]) -> int:
        busy = connections * 1000 / reached["rate"] - pause  # the part of each cycle that is not the pause
        return max(16, math.ceil(1.05 * rate * (pause + busy) / 1000))

    connections = max(16, math.ceil(1.05 * rate * (pause + p50_ms) / 1000))
    probe = await run_wrk(url, script, probe_data or data, seconds=seconds, connections=connections, pause_ms=pause)
    connections = corrected(connections, probe)
    result = await run_wrk(url, script, data, seconds=seconds, connections=connections, pause_ms=pause)
    if result["rate"] < rate:
        connections = corrected(connections, result)
        again = retry_data or data
        result = await run_wrk(url, script, again, seconds=seconds, connections=connections, pause_ms=pause)
    return result


async def fresh_database(server_dsn: str, name: str, *, kernel_schema: bool = False) -> str:
    """Drop and create database `name`; with `kernel_schema`, apply the kernel's migrations."""
    return await new_database(server_dsn, name, replace=True, kernel_schema=kernel_schema)


class IdentityStandIn:
    """Signs tokens and serves their JWKS over HTTP, as identity would for the services."""

    def __init__(self) -> None:
        self.issuer = TestTokenIssuer()
        body = json.dumps(self.issuer.jwks()).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self._server.server_address[1]}/jwks.json"

    def customer_token(self, customer_number: str) -> str:
        return self.issuer.token(customer_number, PrincipalKind.CUSTOMER, [Role.CUSTOMER], ttl_s=3600)

    def support_token(self, agent: str = "bench-agent") -> str:
        return self.issuer.token(agent, PrincipalKind.STAFF, [Role.SUPPORT], ttl_s=3600)

    def close(self) -> None:
        self._server.shutdown()


SERVICE_LOGS = REPO / ".state" / "bench" / "logs"


async def spawn_service(service: str, mode: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """The service as it runs in production (its default log level, access lines per
    `ACCESS_LOG_PER_S`), its JSON log lines appended to `.state/bench/logs/<service>-<mode>.log`
    as a log shipper would take them, not into the bench's output; errors on stderr still show."""
    SERVICE_LOGS.mkdir(parents=True, exist_ok=True)
    with (SERVICE_LOGS / f"{service}-{mode}.log").open("ab") as log_file:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", f"services.{service}", mode, env=env, cwd=REPO, stdout=log_file
        )


async def wait_ready(base: str, service: str, proc: asyncio.subprocess.Process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(f"{base}/api/{service}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {service} API did not start")
            await asyncio.sleep(0.2)


async def run_wrk(
    url: str, script: Path, data: Path, *, seconds: int, connections: int, pause_ms: int = 0
) -> dict[str, float]:
    """One wrk run (one thread, ~15-20 µs of CPU per request beside the server); rate, p50/p99, errors."""
    result = data.with_suffix(f".{connections}.{pause_ms}.json")
    env = {**os.environ, "BENCH_RESULT": str(result), "BENCH_PAUSE_MS": str(pause_ms)}
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url, "--", str(data),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0 or not result.exists():
        raise RuntimeError(f"wrk failed: {err.decode()[-500:]}")
    raw = json.loads(result.read_text())
    return {
        "rate": raw["requests"] / (raw["duration_us"] / 1e6),
        "requests": float(raw["requests"]),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": float(raw["errors"] + raw["status_errors"]),
    }
