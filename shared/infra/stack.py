"""Bring up the infrastructure the services need: start what is missing, reuse what is configured.

`DATABASE_URL` (a server DSN) replaces the embedded PostgreSQL, `KAFKA_BOOTSTRAP_SERVERS` the
embedded broker, `SMTP_HOST` the mail sink; what is configured is only prepared (databases and
topics created if missing), never started or stopped. A service's own `<SERVICE>_DATABASE_URL`
wins for that service's database, as in `shared.settings`.

`make run` keeps its state in `<repo>/.state`; the tests pass a temporary directory and free ports,
so both can run side by side.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.infra.gateway import CaddyGateway
from shared.infra.kafka import EmbeddedKafka, TopicSpec, ensure_topics
from shared.infra.postgres import EmbeddedPostgres, ensure_databases
from shared.infra.processes import run_blocking
from shared.infra.smtp_sink import SmtpSinkProcess
from shared.settings import with_database

log = structlog.get_logger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = REPO_ROOT / ".state"

# shared.settings names a service's database accounts_<service> and reads <SERVICE>_DATABASE_URL.
SERVICE_DATABASE_PREFIX = "accounts_"


class InfraConfig(BaseSettings):
    """Where `make run` keeps its embedded infrastructure and which ports it takes; each field
    can be set from the environment (INFRA_STATE_DIR, INFRA_POSTGRES_PORT, ...). Whether a server
    is embedded at all is decided by start_infrastructure() from DATABASE_URL and friends."""

    model_config = SettingsConfigDict(env_prefix="INFRA_", extra="ignore")

    state_dir: Path = DEFAULT_STATE_DIR
    postgres_port: int = 15432
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    gateway_port: int = 8080
    smtp_port: int = 2525


def running_postgres_server(config: InfraConfig | None = None) -> str | None:
    """The server DSN of the embedded PostgreSQL a `make run` keeps in this state directory, if
    it is running: where the command-line tools look when no database is configured."""
    config = config or InfraConfig()
    postgres = EmbeddedPostgres(config.state_dir, config.postgres_port)
    return postgres.dsn if postgres.is_running() else None


@dataclass(frozen=True)
class Infrastructure:
    """What the services connect to, plus handles to whatever this start brought up itself."""

    state_dir: Path
    postgres_server_dsn: str
    kafka_bootstrap: str
    smtp: tuple[str, int] | None = None
    database_overrides: Mapping[str, str] = field(default_factory=dict)
    started_postgres: EmbeddedPostgres | None = None
    started_kafka: EmbeddedKafka | None = None
    started_smtp: SmtpSinkProcess | None = None

    def postgres_dsn_for(self, database: str) -> str:
        override = self.database_overrides.get(database)
        return override if override is not None else with_database(self.postgres_server_dsn, database)

    def environment(self) -> dict[str, str]:
        """The variables `shared.settings` reads, pointing the services at this infrastructure."""
        env = {"DATABASE_URL": self.postgres_server_dsn, "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap}
        for database, dsn in self.database_overrides.items():
            env[f"{_service_of(database).upper()}_DATABASE_URL"] = dsn
        if self.smtp is not None:
            env["SMTP_HOST"], env["SMTP_PORT"] = self.smtp[0], str(self.smtp[1])
        return env

    def stop(self) -> None:
        """Stop what this start brought up; servers that were reused or configured keep running."""
        for server in (self.started_smtp, self.started_kafka, self.started_postgres):
            if server is not None:
                server.stop()


def start_infrastructure(
    state_dir: Path,
    *,
    postgres_port: int,
    kafka_port: int,
    kafka_controller_port: int,
    databases: Sequence[str],
    topics: Sequence[TopicSpec],
    smtp_port: int | None = None,
    environ: Mapping[str, str] | None = None,
    jars_cache: Path | None = None,
) -> Infrastructure:
    """Start (or reuse) PostgreSQL and Kafka, create the databases and topics, and say where they are.

    `smtp_port` also starts the mail sink as a background process unless SMTP_HOST is set.
    `environ` defaults to os.environ; tests pass {} to insist on embedded servers.
    """
    env = os.environ if environ is None else environ
    overrides = {
        database: env[variable]
        for database in databases
        if (variable := f"{_service_of(database).upper()}_DATABASE_URL") in env
    }

    postgres = None if env.get("DATABASE_URL") else EmbeddedPostgres(state_dir, postgres_port)
    kafka = (
        None
        if env.get("KAFKA_BOOTSTRAP_SERVERS")
        else EmbeddedKafka(state_dir, kafka_port, kafka_controller_port, jars_cache)
    )
    smtp = SmtpSinkProcess(state_dir, smtp_port) if smtp_port is not None and not env.get("SMTP_HOST") else None

    # The JVM takes a few seconds to come up, PostgreSQL well under one: start them side by side.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="infra-start") as pool:
        postgres_started = pool.submit(postgres.start) if postgres is not None else None
        kafka_started = pool.submit(kafka.start) if kafka is not None else None
    # Leaving the pool waited for both, so a failure of one never leaves the other half-started.
    try:
        server_dsn = postgres_started.result() if postgres_started else env["DATABASE_URL"]
        bootstrap = kafka_started.result() if kafka_started else env["KAFKA_BOOTSTRAP_SERVERS"]
        smtp_address = (smtp.host, smtp.start()) if smtp is not None else _configured_smtp(env)
        ensure_databases(server_dsn, [database for database in databases if database not in overrides])
        run_blocking(lambda: ensure_topics(bootstrap, topics))
    except BaseException:
        for server in (smtp, kafka, postgres):
            if server is not None and server.started_here:
                server.stop()
        raise

    infrastructure = Infrastructure(
        state_dir=state_dir,
        postgres_server_dsn=server_dsn,
        kafka_bootstrap=bootstrap,
        smtp=smtp_address,
        database_overrides=overrides,
        started_postgres=postgres if postgres is not None and postgres.started_here else None,
        started_kafka=kafka if kafka is not None and kafka.started_here else None,
        started_smtp=smtp if smtp is not None and smtp.started_here else None,
    )
    log.info(
        "infrastructure_ready",
        postgres="embedded" if postgres is not None else "configured",
        kafka="embedded" if kafka is not None else "configured",
        kafka_bootstrap=bootstrap,
        databases=list(databases),
        topics=[topic.name for topic in topics],
    )
    return infrastructure


def stop_embedded(state_dir: Path) -> None:
    """Stop every embedded server found in `state_dir`, whoever started it (`make stop`)."""
    # Ports do not matter for stopping: each launcher finds its process through its pid file.
    CaddyGateway(state_dir, 0).stop()
    SmtpSinkProcess(state_dir, 0).stop()
    EmbeddedKafka(state_dir, 0, 0).stop()
    EmbeddedPostgres(state_dir, 0).stop()


def _service_of(database: str) -> str:
    return database.removeprefix(SERVICE_DATABASE_PREFIX)


def _configured_smtp(env: Mapping[str, str]) -> tuple[str, int] | None:
    host = env.get("SMTP_HOST")
    return (host, int(env.get("SMTP_PORT", "25"))) if host else None
