"""A single-node Apache Kafka broker in KRaft mode (broker and controller in one JVM).

The jars come from Maven Central, cached outside the repository (see `kafka_jars`), and run with
the machine's Java. Everything the broker writes lives in `<state_dir>/kafka/`: the generated
configuration, the formatted log directory, the logs.

Topics are never created implicitly (auto.create.topics.enable=false): `ensure_topics()` states
them, so a typo in a topic name fails loudly instead of inventing a topic.

    python -m shared.infra.kafka fetch-jars     fill the jar cache (`make jars`)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from shared.infra.errors import LauncherError, StartupFailed, StateConflict, ToolNotFound
from shared.infra.kafka_jars import KAFKA_POM, ensure_kafka_jars, kafka_version, libs_dir_for
from shared.infra.processes import (
    alive_pid_from_file,
    ensure_port_free,
    file_lock,
    log_tail,
    port_is_open,
    run_blocking,
    spawn_server,
    stop_server,
    wait_for_child,
)
from shared.kafka_security import client_options

log = structlog.get_logger(__name__)

# What the broker's command line contains: tells our broker's pid from a recycled one.
_BROKER_MARKER = "kafka.Kafka"

# Kafka's protocol error codes that ensure_topics() treats as success.
_TOPIC_ALREADY_EXISTS = 36

# Every topic in this system carries events that read models are rebuilt from, from offset 0:
# nothing may ever be deleted by retention.
EVENT_TOPIC_CONFIGS: Mapping[str, str] = {"retention.ms": "-1"}


@dataclass(frozen=True)
class TopicSpec:
    """A topic as ensure_topics() creates it; by default an event topic that keeps everything."""

    name: str
    partitions: int = 3
    replication_factor: int = 1
    configs: Mapping[str, str] = field(default_factory=lambda: dict(EVENT_TOPIC_CONFIGS))


@dataclass(frozen=True)
class BrokerSecurity:
    """The client listener as a cluster with authentication would run it: SASL_SSL, SCRAM-SHA-512
    users created when the storage is formatted, and Kafka's ACL authorizer (nothing is allowed
    that no ACL allows, except to the super user). For tests of the clients' security settings
    (`shared.kafka_security`); `make run` stays in plain text."""

    keystore_pem: str  # the broker's private key (unencrypted PKCS#8) and certificate chain, PEM
    truststore_pem: str  # the CA that signed it (the broker connects to itself as a client too)
    users: Mapping[str, str]  # SCRAM user -> password
    super_user: str = "admin"  # one of `users`; the broker's own connections use it too
    listener: ClassVar[str] = "SASL_SSL"


class EmbeddedKafka:
    """One KRaft broker+controller whose state lives in `<state_dir>/kafka/`."""

    def __init__(
        self,
        state_dir: Path,
        port: int,
        controller_port: int,
        jars_cache: Path | None = None,
        *,
        heap: str = "512m",
        startup_timeout: float = 60.0,
        pom: Path = KAFKA_POM,
        security: BrokerSecurity | None = None,
    ) -> None:
        self.root = state_dir.absolute() / "kafka"
        self.port = port
        self.controller_port = controller_port
        self.security = security
        self.pom = pom
        self.version = kafka_version(pom)
        self.libs_dir = libs_dir_for(self.version, jars_cache)
        self.heap = heap
        self.startup_timeout = startup_timeout
        self.started_here = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.root / "kafka.pid"

    @property
    def server_log(self) -> Path:
        return self.root / "server.log"

    @property
    def process_log(self) -> Path:
        """stdout/stderr of the JVM: where a crash before logging starts ends up."""
        return self.root / "process.log"

    def ensure_jars(self) -> Path:
        """The broker's classpath directory, fetched into the cache first if needed."""
        return ensure_kafka_jars(self.libs_dir, self.pom)

    def start(self) -> str:
        """Start the broker, or reuse the one already running on this state directory."""
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / "launcher.lock"):
            pid = self._running_pid()
            if pid is not None:
                self._check_ports_of_running_broker()
                self._wait_until_ready()
                log.info("kafka_reused", pid=pid, bootstrap=self.bootstrap)
                return self.bootstrap
            for port in (self.port, self.controller_port):
                ensure_port_free("127.0.0.1", port, "Kafka")
            began = time.monotonic()
            java = _java()
            self.ensure_jars()
            self._write_configuration()
            if not (self.data_dir / "meta.properties").exists():
                self._format_storage(java)
            self._process = spawn_server(
                self._broker_command(java), pid_file=self.pid_file, log_file=self.process_log, cwd=self.root
            )
            self.started_here = True
            self._wait_until_ready()
            log.info(
                "kafka_started",
                pid=self._process.pid,
                bootstrap=self.bootstrap,
                seconds=round(time.monotonic() - began, 2),
            )
        return self.bootstrap

    def is_running(self) -> bool:
        return self._running_pid() is not None and port_is_open("127.0.0.1", self.port)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (controlled shutdown, flushes the logs), SIGKILL after `timeout`."""
        pid, graceful = stop_server(self.pid_file, _BROKER_MARKER, self._process, timeout=timeout)
        if pid is not None:
            log.info("kafka_stopped", pid=pid, graceful=graceful)
        self._process = None
        self.started_here = False

    # --- internals ---------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def server_properties(self) -> Path:
        return self.root / "server.properties"

    def _running_pid(self) -> int | None:
        return alive_pid_from_file(self.pid_file, must_contain=_BROKER_MARKER)

    @property
    def _client_listener(self) -> str:
        return self.security.listener if self.security is not None else "PLAINTEXT"

    @property
    def _listeners(self) -> str:
        return f"{self._client_listener}://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"

    def _check_ports_of_running_broker(self) -> None:
        written = _read_properties(self.server_properties)
        expected = self._listeners
        if written.get("listeners") != expected:
            raise StateConflict(
                f"Kafka for {self.root} already runs with listeners {written.get('listeners')}, "
                f"not {expected}; stop it first or use those ports"
            )

    def _write_configuration(self) -> None:
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # A static voter list rather than a formatted dynamic quorum: it is re-read on every
            # start, so the same state directory keeps working if the controller port changes.
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": self._listeners,
            "advertised.listeners": f"{self._client_listener}://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": self._client_listener,
            "listener.security.protocol.map": f"{self._client_listener}:{self._client_listener},CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            # Internal topics default to three replicas, which one broker can never host.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Consumers in tests join one by one; the default 3 s delay would add up.
            "group.initial.rebalance.delay.ms": "0",
            # Small segments keep a developer's disk and the startup log recovery small.
            "log.segment.bytes": str(64 * 1024 * 1024),
            # The consumer-offsets topic is created on the first group join; 10 partitions
            # instead of 50 make that first join (in every test session) quicker.
            "offsets.topic.num.partitions": "10",
            # Sized for a developer machine with a couple of cores, not a server.
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        if self.security is not None:
            properties.update(self._security_properties(self.security))
        self.server_properties.write_text("".join(f"{key}={value}\n" for key, value in properties.items()))
        if self.security is not None:
            self.server_properties.chmod(0o600)  # it holds the super user's password
        (self.root / "log4j2.properties").write_text(_LOG4J2_TEMPLATE.format(log_file=self.server_log))

    def _security_properties(self, security: BrokerSecurity) -> dict[str, str]:
        keystore = self.root / "broker-keystore.pem"
        keystore.write_text(security.keystore_pem)
        keystore.chmod(0o600)
        truststore = self.root / "broker-truststore.pem"
        truststore.write_text(security.truststore_pem)
        admin_password = security.users[security.super_user]
        prefix = f"listener.name.{security.listener.lower()}"
        return {
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            f"{prefix}.scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{security.super_user}" password="{admin_password}";'
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(truststore),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # The controller listener is plain text inside the one JVM; its principal is ANONYMOUS.
            "super.users": f"User:{security.super_user};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
        }

    def _format_storage(self, java: str) -> None:
        scram = [
            arg
            for name, password in (self.security.users.items() if self.security is not None else ())
            for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")
        ]
        command = [
            java, "-cp", f"{self.libs_dir}/*",
            f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
            "kafka.tools.StorageTool", "format",
            "--cluster-id", _new_cluster_id(),
            "--config", str(self.server_properties),
            "--ignore-formatted",
            *scram,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StartupFailed("Kafka storage format", f"exit code {result.returncode}", result.stderr[-4000:])
        log.info("kafka_storage_formatted", data_dir=str(self.data_dir))

    def _broker_command(self, java: str) -> list[str]:
        return [
            java,
            "-Xms256m",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.root / 'log4j2.properties'}",
            "-cp",
            f"{self.libs_dir}/*",  # the JVM expands the wildcard itself
            "kafka.Kafka",
            str(self.server_properties),
        ]

    def _wait_until_ready(self) -> None:
        began = time.monotonic()
        logs = [self.process_log, self.server_log]
        wait_for_child(
            "Kafka",
            self._process,
            lambda: port_is_open("127.0.0.1", self.port),
            timeout=self.startup_timeout,
            what=f"Kafka on {self.bootstrap}",
            logs=logs,
        )
        remaining = max(5.0, self.startup_timeout - (time.monotonic() - began))
        # An open port is not yet a broker that serves metadata; one real round trip is.
        try:
            run_blocking(lambda: wait_for_broker(self.bootstrap, timeout=remaining))
        except TimeoutError as timeout:
            raise StartupFailed("Kafka", str(timeout), log_tail(*logs)) from None


async def wait_for_broker(bootstrap: str, *, timeout: float = 60.0) -> None:
    """Return once a metadata request to `bootstrap` lists at least one broker."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000, **client_options())
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            if cluster.get("brokers"):
                return
        except (KafkaError, OSError) as error:
            last_error = error
        finally:
            await admin.close()
        await asyncio.sleep(0.2)
    raise TimeoutError(f"Kafka at {bootstrap} answered no metadata request within {timeout:.0f} s: {last_error}")


async def ensure_topics(bootstrap: str, topics: Sequence[TopicSpec]) -> None:
    """Create each topic in `topics` that does not exist yet.

    Existing topics are left as they are: changing partitions or configs of a live topic is a
    migration for a human, not something a launcher should do behind everyone's back.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in topics if topic.name not in existing]
        if not missing:
            return
        response = await admin.create_topics(
            [
                NewTopic(
                    name=topic.name,
                    num_partitions=topic.partitions,
                    replication_factor=topic.replication_factor,
                    topic_configs=dict(topic.configs),
                )
                for topic in missing
            ]
        )
        failures = []
        for name, code, *rest in response.topic_errors:
            if code not in (0, _TOPIC_ALREADY_EXISTS):  # another launcher may have won the race
                failures.append(f"{name}: error {code} {rest[0] if rest else ''}".strip())
        if failures:
            raise LauncherError("could not create Kafka topics: " + "; ".join(failures))
        await _wait_for_leaders(admin, [topic.name for topic in missing])
        log.info("kafka_topics_created", topics=[topic.name for topic in missing])
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout: float = 10.0) -> None:
    # CreateTopics returns before every partition has an elected leader; a producer that sends
    # right away would see retriable errors (and a test a flaky first send), so wait them out.
    deadline = time.monotonic() + timeout
    while True:
        described = await admin.describe_topics(names)
        if all(
            topic["error_code"] == 0
            and topic["partitions"]
            and all(partition["leader"] >= 0 for partition in topic["partitions"])
            for topic in described
        ):
            return
        if time.monotonic() >= deadline:
            raise LauncherError(f"Kafka topics {names} have no leaders after {timeout:.0f} s")
        await asyncio.sleep(0.1)


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is not None and candidate.exists():
        return str(candidate)
    found = shutil.which("java")
    if found is None:
        raise ToolNotFound("java", "Kafka needs a Java 17+ runtime (set JAVA_HOME or put java on PATH)")
    return found


def _new_cluster_id() -> str:
    # Kafka's cluster id format: a random UUID as 22 characters of unpadded URL-safe base64.
    # Kafka itself avoids ids that begin with '-', which command lines take for an option.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _read_properties(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


# Warnings and errors, plus the lifecycle lines that show when the broker came up or went down.
# Size-capped, since a broker left running for weeks under `make run` would otherwise fill up.
_LOG4J2_TEMPLATE = """\
status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.filePattern = {log_file}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = FILE
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = INFO
logger.version.name = org.apache.kafka.common.utils.AppInfoParser
logger.version.level = INFO
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.infra.kafka")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch-jars", help="resolve the pinned Kafka jars into the cache (once)")
    arguments = parser.parse_args(argv)
    if arguments.command == "fetch-jars":
        libs_dir = ensure_kafka_jars(libs_dir_for(kafka_version()))
        print(libs_dir)


if __name__ == "__main__":
    main()
