"""The HTTP protocol that writes a response's headers and body at once (`shared.http.protocol`)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.types import Receive, Scope, Send

from shared.http.protocol import GatheringHttpToolsProtocol, GatheringTransport
from tests.support.uvicorn_server import uvicorn_serving


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str) -> Any:
        return f"info:{name}"


def _gathering() -> tuple[RecordingTransport, GatheringTransport]:
    inner = RecordingTransport()
    return inner, GatheringTransport(inner, asyncio.get_running_loop())  # type: ignore[arg-type]


async def test_headers_wait_for_the_body_and_go_out_with_it_in_one_write() -> None:
    inner, transport = _gathering()
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert inner.writes == []
    transport.write(b"{}")
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]  # at once, not at the end of the turn
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]


async def test_a_write_with_nothing_after_it_goes_out_at_the_end_of_the_turn() -> None:
    inner, transport = _gathering()
    transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    await asyncio.sleep(0)
    assert inner.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"]


async def test_close_sends_what_was_written_first_and_the_rest_is_delegated() -> None:
    inner, transport = _gathering()
    transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    transport.close()
    assert inner.writes == [b"HTTP/1.1 400 Bad Request\r\n\r\n"]
    assert inner.closed
    assert transport.get_extra_info("peername") == "info:peername"


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/empty":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for part in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    body = b'{"ok": true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def test_uvicorn_with_the_protocol_answers_plain_empty_head_and_streamed_responses() -> None:
    async with uvicorn_serving(_app, GatheringHttpToolsProtocol, log_level="warning") as server:
        port = server.config.port
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for _ in range(3):  # several answers on one kept-alive connection
                r = await client.get("/json")
                assert r.status_code == 200
                assert r.json() == {"ok": True}
            assert (await client.head("/json")).status_code == 200
            assert (await client.get("/empty")).status_code == 204
            streamed = await client.get("/stream")
            assert streamed.text == "one two three"
        # A request the parser refuses is answered (and the connection closed), not left hanging.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), timeout=5)  # read() to EOF: closed after
        writer.close()
        assert answer.startswith(b"HTTP/1.1 400")
