"""`/api/<service>/healthz` (the process is alive) and `readyz` (its dependencies answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

ReadinessCheck = Callable[[], Awaitable[None]]


class Readiness(BaseModel):
    status: str  # ready | not ready
    service: str
    checks: dict[str, str]  # dependency -> "ok" | "unavailable: <error kind>"
    degraded: list[str] = Field(
        default=[], description="Dependencies unavailable that the service serves without, in a degraded way"
    )


def health_router(service: str, checks: Mapping[str, ReadinessCheck], optional: Collection[str] = ()) -> APIRouter:
    """`optional`: checks whose failure leaves the service ready (listed as `degraded`)."""
    router = APIRouter(prefix=f"/api/{service}", tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get(
        "/readyz",
        summary="Readiness: the dependencies needed to serve answer (Kafka's absence only degrades)",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A dependency is not reachable"}},
    )
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                results[name] = "ok"
            except Exception as exc:  # any failure means "not ready", reported by name
                results[name] = f"unavailable: {type(exc).__name__}"
        failed = [name for name, result in results.items() if result != "ok"]
        ready = all(name in optional for name in failed)
        body = {
            "status": "ready" if ready else "not ready",
            "service": service,
            "checks": results,
            "degraded": failed if ready else [],
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get(
        "/metrics",
        summary="Prometheus metrics (text exposition format)",
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
