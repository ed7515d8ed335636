"""A real uvicorn server on a free local port, in the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from shared.infra.processes import free_port


@asynccontextmanager
async def uvicorn_serving(app: Any, http: Any, **config: Any) -> AsyncIterator[uvicorn.Server]:
    """`app` served with the protocol class `http` on 127.0.0.1 until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), http=http, **config))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers a flag, not an event)
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        await serving
