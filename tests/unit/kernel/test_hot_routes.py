"""Hot routes answered inside the HTTP protocol (`shared.http.hot`), served by a real uvicorn."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import structlog
import uvicorn
from starlette.types import Receive, Scope, Send

from shared import metrics
from shared.http.hot import HotRequest, HotRouteProtocol, HotRoutes
from shared.http.middleware import RequestMetrics
from tests.support.uvicorn_server import uvicorn_serving

MAX_BODY = 1000
CORRELATION = uuid.uuid4()


class EchoRoute:
    template = "/hot/{n}"

    def takes(self, method: bytes, url: bytes) -> bool:
        return method == b"POST" and url.startswith(b"/hot/")

    def answer(self, state: Any, request: HotRequest) -> bytes | None:
        if request.body == b"decline":
            return None
        if request.body == b"boom":
            raise RuntimeError("a bug in the route")
        return json.dumps({"by": "hot", "body": request.body.decode(), "state": state.name}).encode()


class App:
    """What the protocol hands on: answers with what it saw (slowly, to catch reordering)."""

    def __init__(self) -> None:
        self.hot_routes = HotRoutes((EchoRoute(),), SimpleNamespace(name="s"), MAX_BODY, RequestMetrics("test"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await asyncio.sleep(0.05)
        answer = json.dumps({"by": "app", "path": scope["path"], "size": len(body), "body": body[:20].decode()})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer.encode()})


@pytest.fixture
async def server() -> AsyncIterator[uvicorn.Server]:
    async with uvicorn_serving(App(), HotRouteProtocol, log_level="warning") as server:
        yield server


@pytest.fixture
def port(server: uvicorn.Server) -> int:
    return server.config.port


async def test_a_hot_answer_carries_what_the_kernel_gives_every_answer(port: int) -> None:
    counter = metrics.HTTP_REQUESTS.labels("test", "POST", "/hot/{n}", "200")
    before = counter._value.get()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        for body in ("one", "two"):  # on one kept-alive connection
            r = await client.post("/hot/1", content=body, headers={"x-request-id": f"req-{body}"})
            assert r.status_code == 200
            assert r.json() == {"by": "hot", "body": body, "state": "s"}
            assert r.headers["content-type"] == "application/json"
            assert r.headers["content-length"] == str(len(r.content))
            assert r.headers["x-request-id"] == f"req-{body}"  # the caller's id, echoed
            assert r.headers["x-correlation-id"]
            assert r.headers["server"] == "uvicorn"  # uvicorn's default headers too
    assert counter._value.get() == before + 2


async def test_a_hot_answer_is_logged_with_its_ids(port: int) -> None:
    with structlog.testing.capture_logs() as logs:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            r = await client.post("/hot/1", content="x", headers={"x-correlation-id": str(CORRELATION)})
    (line,) = [entry for entry in logs if entry["event"] == "http_request"]
    assert line["request_id"] == r.headers["x-request-id"]
    assert line["correlation_id"] == r.headers["x-correlation-id"] == str(CORRELATION)
    assert (line["route"], line["status"]) == ("/hot/{n}", 200)


async def test_what_the_route_declines_reaches_the_app_unchanged(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        declined = await client.post("/hot/1", content=b"decline")
        assert declined.json() == {"by": "app", "path": "/hot/1", "size": 7, "body": "decline"}
        other = await client.post("/elsewhere", content=b"x")
        assert other.json()["by"] == "app"
        large = await client.post("/hot/1", content=b"z" * (MAX_BODY + 500))  # too large to read for it
        assert large.json() == {"by": "app", "path": "/hot/1", "size": MAX_BODY + 500, "body": "z" * 20}
        assert (await client.post("/hot/1", content=b"after")).json()["by"] == "hot"


async def test_a_route_that_fails_is_answered_as_a_problem_and_the_connection_goes_on(port: int) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        r = await client.post("/hot/1", content=b"boom")
        assert r.status_code == 500
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"] == "Something went wrong on our side."
        assert "a bug" not in r.text
        assert (await client.post("/hot/1", content=b"next")).json()["by"] == "hot"


async def _exchange(port: int, data: bytes) -> list[bytes]:
    """Sends `data` in one write and reads to EOF: the responses, split."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    answer = await asyncio.wait_for(reader.read(), timeout=5)  # the server closes after the last
    writer.close()
    return [b"HTTP/1.1 " + part for part in answer.split(b"HTTP/1.1 ")[1:]]


def _post(body: bytes, extra: bytes = b"") -> bytes:
    return b"POST /hot/1 HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    # A hot request, one for the (slow) app, and a hot one sent behind it: that one must not
    # overtake the app's answer, so it waits in uvicorn's queue and the app answers it.
    sent = _post(b"first") + _post(b"decline") + _post(b"last", b"connection: close\r\n")
    bodies = [json.loads(r.split(b"\r\n\r\n", 1)[1]) for r in await _exchange(port, sent)]
    assert [(b["by"], b["body"]) for b in bodies] == [("hot", "first"), ("app", "decline"), ("app", "last")]


async def test_a_hot_answer_honours_connection_close(server: uvicorn.Server, port: int) -> None:
    counted = server.server_state.total_requests
    (response,) = await _exchange(port, _post(b"only", b"connection: close\r\n"))
    assert server.server_state.total_requests == counted + 1  # as uvicorn counts any answer
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"connection: close\r\n" in response
    assert json.loads(response.split(b"\r\n\r\n", 1)[1])["by"] == "hot"
    (old,) = await _exchange(port, _post(b"ten").replace(b"HTTP/1.1", b"HTTP/1.0"))  # no keep-alive asked
    assert json.loads(old.split(b"\r\n\r\n", 1)[1])["by"] == "hot"
