"""Running a service in-process for integration tests: its real app, lifespan and workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from shared.auth.verifier import TokenVerifier
from shared.clock import Clock
from shared.service import ServiceSpec, create_app
from shared.settings import ServiceSettings
from tests.support.waiting import until


async def revocations_read(app: FastAPI) -> None:
    """As a deployment waits for readiness: until then the service asks identity about every
    session (shared.auth.session_confirmation), and a test has no identity to ask."""
    await until(lambda: bool(app.state.session_revocations.current), "the session revocations read")


@asynccontextmanager
async def running_service(
    spec: ServiceSpec,
    database_url: str,
    kafka: str,
    *,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    **settings: object,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    config = ServiceSettings(
        service=spec.name, database_url=database_url, kafka_bootstrap_servers=kafka, port=0, **settings
    )
    app = create_app(spec, config, clock=clock, verifier=verifier)
    async with app.router.lifespan_context(app):
        await revocations_read(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as client:
            yield app, client
