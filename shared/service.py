"""The generic composition root: wires a service's parts onto the kernel, once for all four.

A service describes itself with a `ServiceSpec` (its name, events, migrations, projections,
consumers and routes); `create_app` and `run_workers` turn that into a running FastAPI app and its
background workers (relay, projection runners, Kafka consumers). `python -m services.<name>`
runs `api` (HTTP only), `worker` (background work only) or `all` (both in one process, the
embedded default); in Kubernetes the API and the workers are separate Deployments.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI
from starlette.types import ASGIApp

from shared import db, heap, metrics
from shared.audit.checkpoints import CheckpointPublisher
from shared.auth.revocations import SessionRevocationFollower
from shared.auth.session_confirmation import IdentitySessionConfirmer, session_url_beside
from shared.auth.verifier import JwksTokenVerifier, TokenVerifier
from shared.authorization.freshness import RUNTIME_KEY as COPY_FRESHNESS
from shared.authorization.freshness import CopyFreshness
from shared.clock import Clock, SystemClock
from shared.consumer import KafkaConsumerRunner, KafkaProjection, consumer_group
from shared.contracts import openapi as openapi_contract
from shared.eventstore.postgres import PostgresEventStore
from shared.http.app import KernelApp
from shared.http.health import health_router
from shared.http.hot import HotRoute, HotRouteProtocol
from shared.http.problems import install_problem_handlers
from shared.http.serving import serve_in_processes
from shared.http.worker_endpoint import start_worker_endpoint
from shared.kafka import idempotent_producer, topic_for
from shared.logging_setup import configure_logging
from shared.projections import Projection, ProjectionRunner
from shared.registry import EventRegistry
from shared.relay import OutboxRelay
from shared.settings import ServiceSettings
from shared.unit_of_work import UnitOfWorkFactory
from shared.waiting import Backoff

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    """Everything a service's handlers and routes need, opened by the lifespan."""

    settings: ServiceSettings
    spec: ServiceSpec
    pool: db.Pool
    store: PostgresEventStore
    uow: UnitOfWorkFactory
    clock: Clock
    verifier: TokenVerifier | None = None
    extras: dict[str, Any] = field(default_factory=dict)


# Readiness checks whose failure leaves an API serving, in a degraded way: writes commit to the
# database (the relay publishes them later), sessions are confirmed with identity while its
# revocations cannot be read, and support's requests on behalf of someone wait (503) while the
# authorization copy cannot be checked. Only the database makes an API not ready.
DEGRADED_WITHOUT = frozenset({"kafka", "session_revocations", "authorization_copy"})


RoutesFactory = Callable[[], Sequence[APIRouter]]
Hook = Callable[[Runtime], Any]


@dataclass
class ServiceSpec:
    name: str
    registry: EventRegistry
    migrations_dir: Path | None = None
    projections: Sequence[Projection] = ()
    kafka_projections: Sequence[KafkaProjection] = ()
    routes: RoutesFactory = lambda: ()
    # State the HTTP side needs (api and all modes), and background work beside the kernel's
    # workers (worker and all modes); `migrate` runs neither.
    on_startup: Sequence[Hook] = ()
    on_worker_startup: Sequence[Hook] = ()
    # ASGI middleware classes (constructed with the app alone) run inside the kernel's request-id,
    # metrics and body-limit middlewares, before FastAPI: a service's fast path for a hot route
    # (`shared.http.app`).
    http_middleware: Sequence[Callable[[ASGIApp], ASGIApp]] = ()
    # Synchronous reads answered in the HTTP protocol itself, before ASGI (`shared.http.hot`).
    hot_routes: Sequence[HotRoute] = ()
    # The name of the Kafka projection that is the service's copy of contacts' authorizations:
    # support acts on it only while it is current (`shared.authorization.freshness`).
    authorization_copy: str | None = None
    # Identity: its routes look every token's session up in its own database, so it need not ask
    # anyone while identity.events cannot be read (`shared.auth.session_confirmation`).
    checks_sessions_itself: bool = False
    description: str = ""

    @property
    def topic(self) -> str:
        return topic_for(self.name)

    @property
    def authorization_copy_consumer(self) -> str | None:
        """The consumer keeping the copy (its offsets and applied stream versions are read)."""
        return consumer_group(self.name, self.authorization_copy) if self.authorization_copy else None


def service_migrations(spec: ServiceSpec) -> list[tuple[str, str]]:
    """The kernel's migrations and the service's own, in the order they apply."""
    migrations = db.kernel_migrations()
    if spec.migrations_dir is not None:
        migrations += db.directory_migrations(spec.name, spec.migrations_dir)
    return migrations


async def open_runtime(
    spec: ServiceSpec,
    settings: ServiceSettings,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    *,
    serves_http: bool = True,
    runs_workers: bool = True,
) -> Runtime:
    pool = await db.create_pool(settings.database_url, max_size=settings.db_pool_size)
    async with pool.acquire() as conn:
        await db.migrate(conn, service_migrations(spec))
        # Under the migration lock: an api and a worker starting together would otherwise race
        # on CREATE TABLE IF NOT EXISTS (a pg_type unique violation for the loser).
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", db.MIGRATION_LOCK)
            for projection in (*spec.projections, *spec.kafka_projections):
                await conn.execute(projection.ddl)
    store = PostgresEventStore(pool, spec.registry)
    runtime = Runtime(
        settings,
        spec,
        pool,
        store,
        UnitOfWorkFactory(pool, store),
        clock or SystemClock(),
        verifier=verifier or JwksTokenVerifier(settings.identity_jwks_url),
    )
    hooks = (*(spec.on_startup if serves_http else ()), *(spec.on_worker_startup if runs_workers else ()))
    for hook in hooks:
        result = hook(runtime)
        if asyncio.iscoroutine(result):
            await result
    return runtime


class Workers:
    """The background side of a service: its relay, projection runners and Kafka consumers."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.consumers: list[KafkaConsumerRunner] = []
        self.projection_runners: list[ProjectionRunner] = []
        self._producer_lock = asyncio.Lock()
        self.producer: AIOKafkaProducer | None = None  # the relay's and the checkpoints', once started

    async def start(self) -> None:
        """Starts every loop without waiting for Kafka: the relay and the checkpoints start their
        producer themselves (retried while Kafka does not answer), the projections need only the
        database, the consumers retry their own connection."""
        rt = self.runtime
        self.supervise("relay", self._relay)
        for projection in rt.spec.projections:
            runner = ProjectionRunner(pool=rt.pool, store=rt.store, projection=projection)
            self.projection_runners.append(runner)
            self.supervise(f"projection:{projection.name}", runner.run)
        for kp in rt.spec.kafka_projections:
            consumer = KafkaConsumerRunner(
                pool=rt.pool,
                bootstrap=rt.settings.kafka_bootstrap_servers,
                projection=kp,
                group_id=consumer_group(rt.spec.name, kp.name),
            )
            self.consumers.append(consumer)
            self.supervise(f"consumer:{kp.name}", consumer.run)
        if rt.settings.checkpoint_interval_s > 0:
            self.supervise("checkpoints", self._checkpoints)

    async def _producer(self) -> AIOKafkaProducer:
        """The workers' one producer, started on first need; raises while Kafka does not answer
        (the loop that asked fails, and its supervisor starts it again after a pause)."""
        async with self._producer_lock:
            if self.producer is None:
                rt = self.runtime
                producer = idempotent_producer(rt.settings.kafka_bootstrap_servers, f"{rt.spec.name}-relay")
                try:
                    await producer.start()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise
                self.producer = producer
            return self.producer

    async def _relay(self, stop: asyncio.Event) -> None:
        rt = self.runtime
        producer = await self._producer()
        await OutboxRelay(
            service=rt.spec.name, pool=rt.pool, store=rt.store, producer=producer, topic=rt.spec.topic
        ).run(stop)

    async def _checkpoints(self, stop: asyncio.Event) -> None:
        rt = self.runtime
        publisher = CheckpointPublisher(
            service=rt.spec.name,
            pool=rt.pool,
            producer=await self._producer(),
            interval_s=rt.settings.checkpoint_interval_s,
            bootstrap=rt.settings.kafka_bootstrap_servers,
        )
        await publisher.run(stop)

    def supervise(self, name: str, loop: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        """Run a background loop (`loop(stop)`) until `close`, restarting it when it fails."""
        self._tasks.append(asyncio.create_task(self._supervised(name, loop), name=name))

    async def _supervised(self, name: str, loop: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        """Run `loop` until `stop`; one that fails or ends early is logged, counted and started
        again after a pause. Each loop retries its own rounds; this catches what escapes them
        (a database gone at the wrong moment), which would otherwise leave a read model or the
        relay silently stopped until the process restarts."""
        backoff = Backoff()
        while not self.stop.is_set():
            try:
                await loop(self.stop)
            except Exception as exc:
                if isinstance(exc, KafkaError) or db.is_outage(exc):
                    # A dependency away (say, Kafka while the process starts): no bug to trace.
                    log.warning("worker_loop_waiting", loop=name, error=repr(exc))
                else:
                    log.exception("worker_loop_failed", loop=name)
            else:
                if self.stop.is_set():
                    return
                log.error("worker_loop_ended", loop=name)
            metrics.WORKER_LOOP_RESTARTS.labels(self.runtime.spec.name, name).inc()
            await backoff.wait(self.stop)

    def alive(self) -> bool:
        """Every loop still runs (they never end on their own before `close`)."""
        return bool(self._tasks) and not any(task.done() for task in self._tasks)

    async def close(self) -> None:
        """Drain: every loop finishes its round and stops; one that hangs is cancelled."""
        self.stop.set()
        done, pending = await asyncio.wait(self._tasks, timeout=15) if self._tasks else (set(), set())
        for task in pending:
            task.cancel()
        for task in (*done, *pending):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.producer is not None:
            await self.producer.stop()
            self.producer = None


async def close_pool(pool: db.Pool) -> None:
    # A connection still borrowed by a cancelled task would make close() wait forever.
    try:
        await asyncio.wait_for(pool.close(), timeout=10)
    except TimeoutError:
        pool.terminate()


def create_app(
    spec: ServiceSpec,
    settings: ServiceSettings | None = None,
    *,
    with_workers: bool = True,
    clock: Clock | None = None,
    verifier: TokenVerifier | None = None,
    settle_heap: bool = False,
) -> FastAPI:
    """`settle_heap`: a real process's app (see `shared.heap`), not one of a test's."""
    settings = settings or ServiceSettings.from_env(spec.name)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await open_runtime(spec, settings, clock, verifier, runs_workers=with_workers)
        # Tokens of sessions identity has ended are refused from here on, whatever they say.
        assert runtime.verifier is not None
        confirmer = (
            None
            if spec.checks_sessions_itself
            else IdentitySessionConfirmer(session_url_beside(settings.identity_jwks_url))
        )
        runtime.verifier = revocations.guard(runtime.verifier, confirmer)
        revocations.start()
        freshness = _copy_freshness(spec, settings, runtime.pool)
        if freshness is not None:
            runtime.extras[COPY_FRESHNESS] = freshness
            freshness.start()
        app.state.runtime = runtime
        workers = Workers(runtime) if with_workers else None
        if workers is not None:
            await workers.start()
        app.state.workers = workers
        if settle_heap:
            heap.settle_after_start()
        try:
            yield
        finally:
            if workers is not None:
                await workers.close()
            await revocations.stop()
            if confirmer is not None:
                await confirmer.close()
            if freshness is not None:
                await freshness.stop()
            await close_pool(runtime.pool)

    revocations = SessionRevocationFollower(settings.kafka_bootstrap_servers, client_id=f"{spec.name}-api-revocations")

    async def database_ready() -> None:
        await app.state.runtime.pool.fetchval("SELECT 1")

    app = KernelApp(
        service=spec.name,
        max_body_bytes=settings.max_body_bytes,
        fast_paths=spec.http_middleware,
        hot_routes=spec.hot_routes,
        access_log_per_s=settings.access_log_per_s,
        title=f"{spec.name} service",
        description=spec.description,
        version="1.0.0",
        openapi_url=f"/api/{spec.name}/openapi.json",
        docs_url=f"/api/{spec.name}/docs",
        redoc_url=None,
        lifespan=lifespan,
        # Observability is Prometheus + structlog; FastAPI's OpenTelemetry hook would otherwise
        # look for configured providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_problem_handlers(app)
    app.state.session_revocations = revocations
    # (Kafka as the revocation follower finds it: it asks the broker for the topic's end every round.)
    readiness = {
        "database": database_ready,
        "kafka": revocations.kafka_answers,
        "session_revocations": revocations.ready,
    }
    if spec.authorization_copy is not None:

        async def authorization_copy_ready() -> None:
            await app.state.runtime.extras[COPY_FRESHNESS].ready()

        readiness["authorization_copy"] = authorization_copy_ready
    app.include_router(health_router(spec.name, readiness, optional=DEGRADED_WITHOUT))
    for router in spec.routes():
        app.include_router(router)
    openapi_contract.install(app)
    return app


def _copy_freshness(spec: ServiceSpec, settings: ServiceSettings, pool: db.Pool) -> CopyFreshness | None:
    consumer = spec.authorization_copy_consumer
    if consumer is None:
        return None
    return CopyFreshness(
        pool,
        settings.kafka_bootstrap_servers,
        consumer=consumer,
        topic=topic_for("contacts"),
        max_lag_s=settings.authorization_copy_max_lag_s,
        client_id=f"{spec.name}-api-copy-freshness",
    )


def main(spec: ServiceSpec, argv: Sequence[str]) -> None:
    """Entry point of `python -m services.<name> [api|worker|all|migrate]`."""
    import uvicorn

    mode = argv[0] if argv else "all"
    settings = ServiceSettings.from_env(spec.name)
    configure_logging(spec.name, settings.log_level)
    if mode in ("api", "all"):
        server: dict[str, Any] = {
            "host": settings.host,
            "port": settings.port,
            "log_level": "warning",
            "access_log": False,
            "loop": "uvloop",
            "http": HotRouteProtocol,
            "lifespan": "on",
            "forwarded_allow_ips": settings.forwarded_allow_ips,
        }
        if mode == "api" and settings.api_processes > 1:
            # One Python process serves one core. The API is stateless (each process has its own
            # pool and in-memory copies), so N of them serve one port (`shared.http.serving`).
            del server["host"], server["port"]
            serve_in_processes(spec.name, settings.host, settings.port, settings.api_processes, server)
        else:
            uvicorn.run(create_app(spec, settings, with_workers=(mode == "all"), settle_heap=True), **server)
    elif mode == "worker":
        asyncio.run(_run_worker(spec, settings))
    elif mode == "migrate":
        asyncio.run(_migrate_only(spec, settings))
    else:
        raise SystemExit(f"usage: python -m services.{spec.name} [api|worker|all|migrate]")


async def _run_worker(spec: ServiceSpec, settings: ServiceSettings) -> None:
    import signal

    runtime = await open_runtime(spec, settings, serves_http=False)
    workers = Workers(runtime)
    await workers.start()
    heap.settle_after_start()
    # Optional /healthz and /metrics of the worker process (Kubernetes: liveness probe, scraping).
    port = os.environ.get("WORKER_METRICS_PORT")
    endpoint = await start_worker_endpoint(settings.host, int(port), workers.alive) if port else None
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    if endpoint is not None:
        endpoint.close()
    await workers.close()
    await close_pool(runtime.pool)


async def _migrate_only(spec: ServiceSpec, settings: ServiceSettings) -> None:
    runtime = await open_runtime(spec, settings, serves_http=False, runs_workers=False)
    await runtime.pool.close()
