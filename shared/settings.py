"""Settings of one service, read from the environment (pydantic-settings).

<SERVICE>_DATABASE_URL    this service's database (wins over DATABASE_URL)
DATABASE_URL              a server; the service uses database `accounts_<service>` on it
KAFKA_BOOTSTRAP_SERVERS   the Kafka cluster
<SERVICE>_PORT            HTTP port (defaults: identity 8101, contacts 8102, billing 8103, domains 8104)
SERVICE_HOST              interface to bind (127.0.0.1)
LOG_LEVEL                 INFO
ACCESS_LOG_PER_S          access lines per second per route, successes and client errors each (100; 0: all)
SMTP_HOST / SMTP_PORT     the mail server the service sends through
PORTAL_URL                the portal's public address, for links in e-mails
CHECKPOINT_INTERVAL_S     seconds between checkpoints published to <service>.checkpoints (30; 0: none)
KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD,
KAFKA_SSL_CA_FILE         how the Kafka clients authenticate (shared.kafka_security; plain text
                          when unset), checked here so that a wrong setting stops the start
FORWARDED_ALLOW_IPS       the proxies (addresses or networks, comma-separated) whose X-Forwarded-For
                          is believed: the gateway's (127.0.0.1). The client address, which
                          identity's guessing throttle counts, is the last one they did not add
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, field_validator

from shared.kafka_security import KafkaSecurity

DEFAULT_PORTS = {"identity": 8101, "contacts": 8102, "billing": 8103, "domains": 8104}


def database_name(service: str) -> str:
    return f"accounts_{service}"


def with_database(server_url: str, database: str) -> str:
    """`server_url` pointing at `database` instead (credentials and query parameters kept)."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def database_url_for(service: str, server_url: str) -> str:
    return with_database(server_url, database_name(service))


class ServiceSettings(BaseModel):
    service: str
    database_url: str
    kafka_bootstrap_servers: str
    host: str = "127.0.0.1"
    port: int
    log_level: str = "INFO"
    access_log_per_s: int = 100  # shared.http.access_log
    max_body_bytes: int = 64 * 1024
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    portal_url: str = "http://127.0.0.1:8080"
    db_pool_size: int = 10
    identity_jwks_url: str = "http://127.0.0.1:8101/api/identity/.well-known/jwks.json"
    checkpoint_interval_s: float = 30.0  # tamper-evidence checkpoints (shared.audit); 0 disables
    api_processes: int = 1  # processes serving the API on one port (`api` mode only; shared.http.serving)
    # Support acts on a copy of contacts' authorizations only while it is at most this far behind
    # (billing, domains; shared.authorization.freshness).
    authorization_copy_max_lag_s: float = 10.0
    forwarded_allow_ips: str = "127.0.0.1"

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies_by_address(cls, value: str) -> str:
        # uvicorn would take `*` as "believe the leftmost X-Forwarded-For address": the one a
        # client writes itself, so a guesser could be a new address at every attempt.
        for entry in value.split(","):
            try:
                ipaddress.ip_network(entry.strip())
            except ValueError:
                raise ValueError(f"FORWARDED_ALLOW_IPS: {entry.strip()!r} is no address or network") from None
        return value

    @classmethod
    def from_env(cls, service: str) -> ServiceSettings:
        env = os.environ
        upper = service.upper()
        url = env.get(f"{upper}_DATABASE_URL")
        if url is None:
            server = env.get("DATABASE_URL")
            if server is None:
                raise RuntimeError(f"set {upper}_DATABASE_URL or DATABASE_URL")
            url = database_url_for(service, server)
        KafkaSecurity.from_env(env)  # raises KafkaSecurityError, naming the setting
        return cls(
            service=service,
            database_url=url,
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"),
            host=env.get("SERVICE_HOST", "127.0.0.1"),
            port=int(env.get(f"{upper}_PORT", DEFAULT_PORTS.get(service, 8100))),
            log_level=env.get("LOG_LEVEL", "INFO"),
            access_log_per_s=int(env.get("ACCESS_LOG_PER_S", 100)),
            max_body_bytes=int(env.get("MAX_BODY_BYTES", 64 * 1024)),
            smtp_host=env.get("SMTP_HOST", "127.0.0.1"),
            smtp_port=int(env.get("SMTP_PORT", 2525)),
            portal_url=env.get("PORTAL_URL", "http://127.0.0.1:8080"),
            db_pool_size=int(env.get("DB_POOL_SIZE", 10)),
            identity_jwks_url=env.get("IDENTITY_JWKS_URL", "http://127.0.0.1:8101/api/identity/.well-known/jwks.json"),
            checkpoint_interval_s=float(env.get("CHECKPOINT_INTERVAL_S", 30.0)),
            api_processes=int(env.get(f"{upper}_API_PROCESSES", env.get("API_PROCESSES", 1))),
            authorization_copy_max_lag_s=float(env.get("AUTHORIZATION_COPY_MAX_LAG_S", 10.0)),
            forwarded_allow_ips=env.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        )
