"""A tiny HTTP endpoint for `worker` processes: `/healthz` and `/metrics` on WORKER_METRICS_PORT.

Workers (relay, projection runners, Kafka consumers) serve no API, yet relay and consumer lag
live in their process, and only the process itself knows whether its loops still run. This
answers on the worker's own event loop, so a stuck loop also stops answering (the liveness
probe then restarts the pod):

    GET /healthz   200 {"status": "ok"} while every worker loop runs, else 503
    GET /metrics   Prometheus text format (the process's registry)

Plain asyncio rather than a second web server: two fixed GET routes, HTTP/1.1, one request per
connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import orjson
import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = structlog.get_logger(__name__)

_READ_TIMEOUT_S = 5.0
_MAX_HEADER_BYTES = 16 * 1024


async def start_worker_endpoint(host: str, port: int, alive: Callable[[], bool]) -> asyncio.Server:
    """Listen on (host, port); close the returned server to stop."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT_S)
            method, _, rest = head[:_MAX_HEADER_BYTES].partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            status, content_type, body = _answer(method, path, alive)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port, limit=_MAX_HEADER_BYTES)
    log.info("worker_endpoint_listening", host=host, port=port)
    return server


def _answer(method: bytes, path: bytes, alive: Callable[[], bool]) -> tuple[str, str, bytes]:
    if method != b"GET":
        return "405 Method Not Allowed", "text/plain", b"method not allowed\n"
    if path == b"/metrics":
        return "200 OK", CONTENT_TYPE_LATEST, generate_latest()
    if path == b"/healthz":
        ok = alive()
        body = orjson.dumps({"status": "ok" if ok else "a worker loop stopped"})
        return ("200 OK" if ok else "503 Service Unavailable"), "application/json", body
    return "404 Not Found", "text/plain", b"not found\n"
