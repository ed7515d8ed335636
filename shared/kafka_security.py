"""How every Kafka client of the system authenticates: from the environment, the same for all.

The embedded broker of `make run` and the tests listens in plain text, so by default nothing is
set. A real cluster authenticates each service (SCRAM over TLS with Strimzi's `KafkaUser`s) and
its ACLs decide who may write which topic: without that, any pod that reaches the brokers could
publish a forged `ContactAuthorized` that billing and domains would act on, or a checkpoint.

    KAFKA_SECURITY_PROTOCOL   PLAINTEXT (default), SSL, SASL_PLAINTEXT or SASL_SSL
    KAFKA_SASL_MECHANISM      SCRAM-SHA-512 (default with SASL), SCRAM-SHA-256 or PLAIN
    KAFKA_SASL_USERNAME       the service's Kafka user
    KAFKA_SASL_PASSWORD       its password (from a Secret; never logged)
    KAFKA_SSL_CA_FILE         the CA that signed the brokers' certificates (default: the system's)

`client_options()` gives the keyword arguments for any aiokafka client; every client in the code
passes them (a unit test holds every construction to it).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.helpers import create_ssl_context

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


class KafkaSecurityError(ValueError):
    """The environment describes no usable way to authenticate (said at start, not at first send)."""


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> KafkaSecurity:
        protocol = env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").strip().upper() or "PLAINTEXT"
        if protocol not in PROTOCOLS:
            raise KafkaSecurityError(f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
        sasl = protocol.startswith("SASL_")
        mechanism = env.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").strip().upper() if sasl else None
        if mechanism is not None and mechanism not in SASL_MECHANISMS:
            raise KafkaSecurityError(f"KAFKA_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)}")
        username = env.get("KAFKA_SASL_USERNAME") or None
        password = env.get("KAFKA_SASL_PASSWORD") or None
        if sasl and (username is None or password is None):
            raise KafkaSecurityError(f"{protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")
        if not sasl and (username or password):
            raise KafkaSecurityError(f"KAFKA_SASL_USERNAME/PASSWORD are set but {protocol} does not use them")
        ca_file = env.get("KAFKA_SSL_CA_FILE") or None
        if ca_file is not None and not protocol.endswith("SSL"):
            raise KafkaSecurityError(f"KAFKA_SSL_CA_FILE is set but {protocol} does not use TLS")
        if ca_file is not None and not os.path.isfile(ca_file):
            raise KafkaSecurityError(f"KAFKA_SSL_CA_FILE {ca_file} is not a readable file")
        return cls(protocol, mechanism, username if sasl else None, password if sasl else None, ca_file)

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol.endswith("SSL"):
            context: ssl.SSLContext = create_ssl_context(cafile=self.ca_file)
            options["ssl_context"] = context
        if self.sasl_mechanism is not None:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.username
            options["sasl_plain_password"] = self.password
        return options


def client_options() -> dict[str, Any]:
    """The security keyword arguments for an aiokafka client, from this process's environment."""
    return KafkaSecurity.from_env().client_options()
