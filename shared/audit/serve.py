"""The compliance API as a process of its own: `python -m shared.audit.serve`.

It replays the public topics (never a service's database), so it is a reader beside the four
services rather than part of one; `make run` starts it and the gateway routes `/api/compliance/`
to it. Tokens are verified locally with identity's published keys, like in every service.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from types import SimpleNamespace

from fastapi import FastAPI

from shared.audit.api import AuditState, compliance_router
from shared.auth.revocations import SessionRevocationFollower
from shared.auth.session_confirmation import IdentitySessionConfirmer, SessionConfirmer, session_url_beside
from shared.auth.verifier import JwksTokenVerifier, TokenVerifier
from shared.contracts import openapi as openapi_contract
from shared.http.access_log import DEFAULT_LINES_PER_S
from shared.http.health import health_router
from shared.http.middleware import BodySizeLimitMiddleware, RequestContextMiddleware, RequestMetrics
from shared.http.problems import install_problem_handlers
from shared.logging_setup import configure_logging

SERVICE = "compliance"
DEFAULT_PORT = 8105


def create_compliance_app(
    bootstrap: str,
    verifier: TokenVerifier,
    access_lines_per_s: int = DEFAULT_LINES_PER_S,
    *,
    confirmer: SessionConfirmer | None = None,
) -> FastAPI:
    """`confirmer`: whom to ask about a session while identity.events cannot be read (`main`
    asks identity's /me, as the services do); None trusts the follower, for tests alone."""
    state = AuditState(bootstrap)
    revocations = SessionRevocationFollower(bootstrap, client_id=f"{SERVICE}-api-revocations")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        revocations.start()
        await state.refresh()
        try:
            yield
        finally:
            await revocations.stop()
            if confirmer is not None:
                await confirmer.close()

    app = FastAPI(
        title="compliance API",
        description="Audit questions over the replayed event history (role `compliance`).",
        version="1.0.0",
        openapi_url=f"/api/{SERVICE}/openapi.json",
        docs_url=f"/api/{SERVICE}/docs",
        redoc_url=None,
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},  # Prometheus + structlog instead
    )
    app.state.runtime = SimpleNamespace(verifier=revocations.guard(verifier, confirmer))
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=64 * 1024)
    app.add_middleware(RequestContextMiddleware, metrics=RequestMetrics(SERVICE, access_lines_per_s))
    # (Kafka as the revocation follower finds it, as at the services: no client of its own per probe.)
    checks = {"kafka": revocations.kafka_answers, "session_revocations": revocations.ready}
    app.include_router(health_router(SERVICE, checks))
    app.include_router(compliance_router(state))
    openapi_contract.install(app)  # problem+json errors and request-id headers, as the services document them
    return app


def main() -> None:
    import uvicorn

    configure_logging(SERVICE, os.environ.get("LOG_LEVEL", "INFO"))
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    jwks = os.environ.get("IDENTITY_JWKS_URL", "http://127.0.0.1:8101/api/identity/.well-known/jwks.json")
    lines_per_s = int(os.environ.get("ACCESS_LOG_PER_S", DEFAULT_LINES_PER_S))
    confirmer = IdentitySessionConfirmer(session_url_beside(jwks))
    app = create_compliance_app(bootstrap, JwksTokenVerifier(jwks), lines_per_s, confirmer=confirmer)
    port = int(os.environ.get("COMPLIANCE_PORT", DEFAULT_PORT))
    host = os.environ.get("SERVICE_HOST", "127.0.0.1")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, loop="uvloop")


if __name__ == "__main__":
    main()
