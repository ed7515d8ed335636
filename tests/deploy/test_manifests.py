"""The Kubernetes manifests (deploy/k8s), rendered by kustomize and checked offline.

Built-in kinds are validated against the Kubernetes JSON schemas bundled in kubernetes-validate
(strict: unknown fields are errors), at the oldest Kubernetes version the manifests support and at
the newest the package knows. The operators' kinds (Strimzi, CloudNativePG, Gateway API) are
validated against tests/deploy/crd_schemas.py. Then the project's own rules: every service has
its API, worker, Service, budgets, autoscaler and migration Job; the compliance API (which replays
the topics and has no database) its one-replica Deployment and Service in the services'
conventions; probes, limits and a locked-down security context everywhere; secrets only by
reference; topics as the event contract says; the gateway routes every API and hides its metrics.
"""

from __future__ import annotations

import asyncio
import importlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from starlette.routing import Match
from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from services.identity.domain.signing_keys import RETIRE_AFTER
from shared.audit import serve as compliance_serve
from shared.auth.testing import TestTokenIssuer
from shared.kafka import topic_for
from shared.service import create_app
from shared.settings import DEFAULT_PORTS, ServiceSettings, database_name
from tests.deploy import crd_schemas
from tests.deploy.rendering import K8S, REPO, Resource

SERVICES = tuple(DEFAULT_PORTS)
# The compliance API (`python -m shared.audit.serve`): behind the gateway like the services' APIs,
# but no service (no database, no worker, no migrations).
COMPLIANCE = compliance_serve.SERVICE
# Every API Deployment `<name>-api` and its port: the four services' and the compliance API's.
API_PORTS = {**DEFAULT_PORTS, COMPLIANCE: compliance_serve.DEFAULT_PORT}
# preStop `sleep` (beta, on by default) needs 1.30; the newest is what kubernetes-validate bundles.
MIN_KUBERNETES = "1.30.0"
NAMESPACES = {"dev": "accounts-dev", "prod": "accounts"}
WORKER_PROBE = "/opt/app/dependency_check.py"
# Names the services read from the environment (shared/settings.py); the ConfigMap may set only these.
SETTINGS_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS",
    "KAFKA_SECURITY_PROTOCOL",
    "KAFKA_SASL_MECHANISM",
    "KAFKA_SSL_CA_FILE",
    "SERVICE_HOST",
    "LOG_LEVEL",
    "ACCESS_LOG_PER_S",
    "AUTHORIZATION_COPY_MAX_LAG_S",
    "SMTP_HOST",
    "SMTP_PORT",
    "PORTAL_URL",
    "IDENTITY_JWKS_URL",
    "FORWARDED_ALLOW_IPS",
    "MAX_BODY_BYTES",
    "DB_POOL_SIZE",
}
CLUSTER_SCOPED = {"Namespace"}


# --- helpers -----------------------------------------------------------------------------------


def of_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind]


def named(resources: list[Resource], kind: str, name: str) -> Resource:
    found = [r for r in of_kind(resources, kind) if r["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind} {name}, found {len(found)}"
    return found[0]


def pod_spec(resource: Resource) -> dict[str, Any]:
    job = resource["spec"]["jobTemplate"]["spec"] if resource["kind"] == "CronJob" else resource["spec"]
    spec: dict[str, Any] = job["template"]["spec"]
    return spec


def containers(resource: Resource) -> list[dict[str, Any]]:
    spec = pod_spec(resource)
    found: list[dict[str, Any]] = [*spec.get("initContainers", []), *spec["containers"]]
    return found


def workloads(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if r["kind"] in ("Deployment", "Job", "CronJob")]


def is_builtin(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return "." not in group or (group.endswith(".k8s.io") and not group.startswith("gateway.networking."))


def env_value(container: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [e for e in container.get("env", []) if e["name"] == name]
    assert len(matches) == 1, f"{container['name']}: expected one env {name}"
    found: dict[str, Any] = matches[0]
    return found


def config_data(resources: list[Resource]) -> dict[str, str]:
    (config,) = of_kind(resources, "ConfigMap")
    data: dict[str, str] = config["data"]
    return data


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def yaml_files() -> Iterator[Path]:
    yield from sorted(K8S.rglob("*.yaml"))


# --- schemas -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [MIN_KUBERNETES, kubernetes_validate.utils.latest_version()])
def test_builtin_resources_validate_against_kubernetes_schemas(
    rendered: dict[str, list[Resource]], overlay: str, version: str
) -> None:
    resources = rendered[overlay]
    builtins = [r for r in resources if is_builtin(r["apiVersion"])]
    assert len(builtins) > 30
    errors = []
    for resource in builtins:
        where = f"{resource['kind']}/{resource['metadata']['name']}"
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{where}: {'.'.join(map(str, exc.path))}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{where}: no schema for {resource['apiVersion']} in Kubernetes {version}")
    assert not errors, "\n".join(errors)


def test_custom_resources_have_their_required_fields(rendered: dict[str, list[Resource]], overlay: str) -> None:
    custom = [r for r in rendered[overlay] if not is_builtin(r["apiVersion"])]
    kinds = {r["kind"] for r in custom}
    backups = {"ScheduledBackup", "ObjectStore"} if overlay == "prod" else set()
    assert kinds == {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "Cluster", "HTTPRoute", *backups}
    errors = []
    for resource in custom:
        schema = crd_schemas.BY_KIND.get((resource["apiVersion"], resource["kind"]))
        if schema is None:
            errors.append(f"no schema for {resource['apiVersion']} {resource['kind']}")
            continue
        validator = jsonschema.Draft202012Validator(schema)
        errors += [
            f"{resource['kind']}/{resource['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}"
            for e in validator.iter_errors(resource)
        ]
    assert not errors, "\n".join(errors)


def test_validators_catch_mistakes(rendered: dict[str, list[Resource]]) -> None:
    """A control: both validators reject a manifest with a typo, so a pass above means something."""
    deployment = yaml.safe_load(yaml.safe_dump(named(rendered["prod"], "Deployment", "contacts-api")))
    containers(deployment)[0]["resource"] = containers(deployment)[0].pop("resources")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, MIN_KUBERNETES, strict=True)
    topic = yaml.safe_load(yaml.safe_dump(of_kind(rendered["prod"], "KafkaTopic")[0]))
    topic["spec"]["partitions"] = "twelve"
    assert list(jsonschema.Draft202012Validator(crd_schemas.KAFKA_TOPIC).iter_errors(topic))


# --- every service, complete -------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_api_worker_service_budgets_autoscaler_and_migration(
    rendered: dict[str, list[Resource]], overlay: str, service: str
) -> None:
    resources = rendered[overlay]
    port = DEFAULT_PORTS[service]
    for kind, component, mode in (("Deployment", "api", "api"), ("Deployment", "worker", "worker")):
        workload = named(resources, kind, f"{service}-{component}")
        (container,) = pod_spec(workload)["containers"]
        assert container["command"] == ["python", "-m", f"services.{service}", mode]
    job = named(resources, "Job", f"{service}-migrate")
    (container,) = pod_spec(job)["containers"]
    assert container["command"] == ["python", "-m", f"services.{service}", "migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"

    api = named(resources, "Deployment", f"{service}-api")
    api_labels = api["spec"]["template"]["metadata"]["labels"]
    svc = named(resources, "Service", f"{service}-api")
    assert selects(svc["spec"]["selector"], api_labels)
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(port, "http")]
    (api_container,) = pod_spec(api)["containers"]
    assert api_container["ports"] == [{"name": "http", "containerPort": port}]
    assert env_value(api_container, f"{service.upper()}_PORT")["value"] == str(port)

    for component in ("api", "worker"):
        deployment = named(resources, "Deployment", f"{service}-{component}")
        pdb = named(resources, "PodDisruptionBudget", f"{service}-{component}")
        assert selects(pdb["spec"]["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"])
        assert deployment["spec"]["selector"]["matchLabels"] == pdb["spec"]["selector"]["matchLabels"]

    hpa = named(resources, "HorizontalPodAutoscaler", f"{service}-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{service}-api"}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert "replicas" not in api["spec"], "the HPA owns the API's replica count"

    database = named(resources, "Cluster", f"{service}-db")
    assert database["spec"]["bootstrap"]["initdb"]["database"] == database_name(service)


def test_nothing_but_the_four_services_and_the_compliance_api(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    resources = rendered[overlay]
    expected = {f"{s}-{c}" for s in SERVICES for c in ("api", "worker")} | {f"{COMPLIANCE}-api"}
    assert {d["metadata"]["name"] for d in of_kind(resources, "Deployment")} == expected
    assert {j["metadata"]["name"] for j in of_kind(resources, "Job")} == {f"{s}-migrate" for s in SERVICES}
    assert {c["metadata"]["name"] for c in of_kind(resources, "Cluster")} == {f"{s}-db" for s in SERVICES}
    assert {c["metadata"]["name"] for c in of_kind(resources, "CronJob")} == {
        "identity-rotate-signing-key",
        "identity-retire-signing-keys",
    }


def test_signing_keys_are_rotated_monthly_and_retired_hourly(rendered: dict[str, list[Resource]], overlay: str) -> None:
    """The key commands on a schedule (docs/architecture.md, "Signing key rotation"): never two at
    once, against identity's database, each a `python -m services.identity` command."""
    resources = rendered[overlay]
    for name, command, schedule in (
        ("identity-rotate-signing-key", "rotate-key", "17 3 1 * *"),
        ("identity-retire-signing-keys", "retire-keys", "47 * * * *"),
    ):
        cron = named(resources, "CronJob", name)
        assert cron["spec"]["schedule"] == schedule
        assert cron["spec"]["timeZone"] == "Etc/UTC"
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        assert pod_spec(cron)["restartPolicy"] == "Never"
        (container,) = pod_spec(cron)["containers"]
        assert container["command"] == ["python", "-m", "services.identity", command]
        assert cron["metadata"]["labels"]["app.kubernetes.io/name"] == "identity"
    # Retiring checks hourly, so the wait after a rotation (25 minutes) is over at the next run or two.
    assert timedelta(hours=1) > RETIRE_AFTER


def test_compliance_api_is_one_replica_beside_the_services(rendered: dict[str, list[Resource]], overlay: str) -> None:
    """`python -m shared.audit.serve`: a Deployment and Service like a service's API, one replica
    (each pod replays the whole history into its own memory), no autoscaler, budget, Job or database."""
    resources = rendered[overlay]
    port = API_PORTS[COMPLIANCE]
    api = named(resources, "Deployment", f"{COMPLIANCE}-api")
    (container,) = pod_spec(api)["containers"]
    assert container["command"] == ["python", "-m", "shared.audit.serve"]
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert env_value(container, "COMPLIANCE_PORT")["value"] == str(port)
    labels = api["spec"]["template"]["metadata"]["labels"]
    assert api["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": COMPLIANCE,
        "app.kubernetes.io/component": "api",
    }
    svc = named(resources, "Service", f"{COMPLIANCE}-api")
    assert selects(svc["spec"]["selector"], labels)
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(port, "http")]

    # One replica, set here (nothing else owns the count), replaced surge-first: the old pod
    # answers until the new one has replayed.
    assert api["spec"]["replicas"] == 1
    assert api["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert not [
        h
        for h in of_kind(resources, "HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"]["name"] == api["metadata"]["name"]
    ]
    assert not [
        p for p in of_kind(resources, "PodDisruptionBudget") if selects(p["spec"]["selector"]["matchLabels"], labels)
    ]
    assert not [j for j in of_kind(resources, "Job") if j["metadata"]["labels"]["app.kubernetes.io/name"] == COMPLIANCE]

    # The port opens after the whole replay: the startup probe waits minutes, not the services' two.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    # The model is the whole history in memory: memory requested as much as allowed, at least 1 GiB.
    memory = container["resources"]
    assert memory["requests"]["memory"] == memory["limits"]["memory"]
    assert _quantity(memory["limits"]["memory"]) >= 2**30

    # The settings it reads (shared/audit/serve.py) come from the shared ConfigMap or its own env.
    source = Path(compliance_serve.__file__).read_text()
    read = set(re.findall(r"os\.environ\.get\(\"(\w+)\"", source))
    assert read >= {"KAFKA_BOOTSTRAP_SERVERS", "IDENTITY_JWKS_URL", "SERVICE_HOST", "COMPLIANCE_PORT"}
    kafka_user = {"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}  # read by shared.kafka_security
    assert {e["name"] for e in container["env"]} - kafka_user <= read
    assert read - {e["name"] for e in container["env"]} <= set(config_data(resources)), "unset settings"


def test_compliance_api_follows_the_services_conventions(rendered: dict[str, list[Resource]], overlay: str) -> None:
    """Pod and container shaped as contacts-api (account, security, volumes, preStop, config, probe
    kinds); command, port, env, probe timings and resources are the compliance API's own."""
    compliance = named(rendered[overlay], "Deployment", f"{COMPLIANCE}-api")
    contacts = named(rendered[overlay], "Deployment", "contacts-api")
    for key in ("revisionHistoryLimit", "strategy"):
        assert compliance["spec"][key] == contacts["spec"][key], key
    assert set(compliance["spec"]["template"]["metadata"]["annotations"]) == set(
        contacts["spec"]["template"]["metadata"]["annotations"]
    )
    ours, theirs = pod_spec(compliance), pod_spec(contacts)
    for key in set(theirs) | set(ours):
        if key != "containers":
            assert ours.get(key) == theirs.get(key), key
    ((ours_c,), (theirs_c,)) = (ours["containers"], theirs["containers"])
    for key in ("name", "image", "imagePullPolicy", "envFrom", "lifecycle", "securityContext", "volumeMounts"):
        assert ours_c[key] == theirs_c[key], key
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert set(ours_c[probe]) == set(theirs_c[probe]), probe


# --- probes, resources, security ---------------------------------------------------------------


def test_api_probes_use_the_health_endpoints(rendered: dict[str, list[Resource]], overlay: str) -> None:
    for service in API_PORTS:
        (container,) = pod_spec(named(rendered[overlay], "Deployment", f"{service}-api"))["containers"]
        expected = {
            "startupProbe": f"/api/{service}/healthz",
            "livenessProbe": f"/api/{service}/healthz",
            "readinessProbe": f"/api/{service}/readyz",
        }
        for probe, path in expected.items():
            assert container[probe]["httpGet"] == {"path": path, "port": "http"}, f"{service} {probe}"
        # readyz checks two dependencies with 2 s each, one after the other (and answers at once
        # whether session revocations have been read).
        assert container["readinessProbe"]["timeoutSeconds"] >= 4


def test_worker_readiness_probe_is_the_dependency_check(rendered: dict[str, list[Resource]], overlay: str) -> None:
    for service in SERVICES:
        (container,) = pod_spec(named(rendered[overlay], "Deployment", f"{service}-worker"))["containers"]
        assert container["readinessProbe"]["exec"]["command"] == ["python", WORKER_PROBE, service]
        # The check waits up to 2 x (4 + 1) s; the probe must not time out before it can answer.
        assert container["readinessProbe"]["timeoutSeconds"] >= 11
        # Metrics and loop liveness on the worker's internal port (shared/service.py).
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["WORKER_METRICS_PORT"] == "9100"
        assert container["ports"] == [{"name": "metrics", "containerPort": 9100}]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    # The image puts the script where the probe runs it.
    containerfile = (REPO / "Containerfile").read_text()
    assert f"COPY deploy/container/dependency_check.py {WORKER_PROBE}" in containerfile


def test_every_container_has_requests_and_limits(rendered: dict[str, list[Resource]], overlay: str) -> None:
    for workload in workloads(rendered[overlay]):
        for container in containers(workload):
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert set(resources.get(bound, {})) >= {"cpu", "memory"}, (
                    f"{workload['metadata']['name']}/{container['name']}: {bound}"
                )


def test_every_pod_runs_locked_down(rendered: dict[str, list[Resource]], overlay: str) -> None:
    """What Pod Security "restricted" demands, plus a read-only root and no API token."""
    for workload in workloads(rendered[overlay]):
        where = workload["metadata"]["name"]
        spec = pod_spec(workload)
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True, where
        assert pod_security["runAsUser"] != 0, where
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        assert not spec.get("hostNetwork"), where
        assert not spec.get("hostPID"), where
        for container in containers(workload):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert "privileged" not in security, where
            assert "runAsUser" not in security, f"{where}: the pod's user applies to all containers"


def test_one_image_for_everything_pinned(rendered: dict[str, list[Resource]], overlay: str) -> None:
    images = {c["image"] for w in workloads(rendered[overlay]) for c in containers(w)}
    assert len(images) == 1
    (image,) = images
    if "@sha256:" in image:
        return
    name, _, tag = image.rpartition(":")
    assert "/" in name, f"a registry: {image}"
    assert tag not in ("", "latest"), f"a release tag or a digest: {image}"


# --- configuration and secrets -----------------------------------------------------------------


def test_configuration_is_a_configmap_of_known_settings(rendered: dict[str, list[Resource]], overlay: str) -> None:
    resources = rendered[overlay]
    data = config_data(resources)
    assert set(data) <= SETTINGS_ENV, f"not read by the services: {set(data) - SETTINGS_ENV}"
    settings_source = (REPO / "shared" / "settings.py").read_text()
    for key in data:
        assert key in settings_source, f"{key} is not read in shared/settings.py"
    # Bound to every interface: the probes and the Service reach the pod from outside it.
    assert data["SERVICE_HOST"] == "0.0.0.0"  # noqa: S104 - that is the point
    # The bootstrap Service that Strimzi creates for the Kafka cluster, on its one listener: TLS,
    # with SCRAM users, which is how the clients are told to connect.
    (kafka,) = of_kind(resources, "Kafka")
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert listener["tls"] is True
    assert listener["authentication"] == {"type": "scram-sha-512"}
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert data["KAFKA_BOOTSTRAP_SERVERS"] == f"{kafka['metadata']['name']}-kafka-bootstrap:{listener['port']}"
    assert data["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert data["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    # The identity API's Service and port.
    assert data["IDENTITY_JWKS_URL"] == (
        f"http://identity-api:{DEFAULT_PORTS['identity']}/api/identity/.well-known/jwks.json"
    )
    config_name = of_kind(resources, "ConfigMap")[0]["metadata"]["name"]
    for workload in workloads(resources):
        for container in containers(workload):
            refs = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
            assert refs == [config_name], workload["metadata"]["name"]


def test_the_apis_believe_the_forwarded_address_of_the_gateway_only(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:
    """identity throttles guessing per client address: behind the gateway that must be the client's,
    not the gateway's (one guesser would slow everyone) nor one the client wrote itself."""
    trusted = config_data(rendered[overlay])["FORWARDED_ALLOW_IPS"]
    ServiceSettings(
        service="identity", database_url="", kafka_bootstrap_servers="", port=0, forwarded_allow_ips=trusted
    )
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["client"][0])

    async def through_the_gateway(x_forwarded_for: str) -> None:
        scope = {
            "type": "http",
            "client": ("10.42.0.7", 51000),
            "headers": [(b"x-forwarded-for", x_forwarded_for.encode())],
        }
        await ProxyHeadersMiddleware(app, trusted_hosts=trusted)(scope, _nothing, _nothing)  # type: ignore[arg-type]

    # What the gateway appends is believed; what the client wrote before it is not.
    asyncio.run(through_the_gateway("203.0.113.50"))
    asyncio.run(through_the_gateway("198.51.100.9, 203.0.113.50"))
    assert seen == ["203.0.113.50", "203.0.113.50"]


async def _nothing(*_: object) -> Any:
    raise AssertionError("not called")


def test_database_urls_come_from_the_cnpg_app_secrets(rendered: dict[str, list[Resource]], overlay: str) -> None:
    resources = rendered[overlay]
    for workload in workloads(resources):
        service = workload["metadata"]["labels"]["app.kubernetes.io/name"]
        for container in containers(workload):
            if service == COMPLIANCE:
                # It reads the topics only: no database, so no URL and no Cluster of its own.
                assert not [e for e in container.get("env", []) if e["name"].endswith("_DATABASE_URL")]
                assert not [c for c in of_kind(resources, "Cluster") if c["metadata"]["name"] == f"{service}-db"]
                continue
            url = env_value(container, f"{service.upper()}_DATABASE_URL")
            assert url["valueFrom"] == {"secretKeyRef": {"name": f"{service}-db-app", "key": "uri"}}
            # The generated Secret exists only if a CNPG Cluster of that name does.
            named(resources, "Cluster", f"{service}-db")


def test_no_secret_is_committed(rendered: dict[str, list[Resource]], overlay: str) -> None:
    assert not of_kind(rendered[overlay], "Secret"), "Secrets are referenced by name, never committed"
    sensitive = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|CREDENTIAL|_KEY$|DATABASE_URL", re.IGNORECASE)
    for workload in workloads(rendered[overlay]):
        for container in containers(workload):
            for env in container.get("env", []):
                if sensitive.search(env["name"]):
                    assert "value" not in env, f"{env['name']} must come from a Secret"
            # The only secrets are the CNPG-generated database ones, by key (test above).
            assert not [s for s in container.get("envFrom", []) if "secretRef" in s]
    for data in config_data(rendered[overlay]).items():
        assert not sensitive.search(data[0]), data


def test_no_secret_in_any_committed_manifest() -> None:
    credentials_in_url = re.compile(r"\w+://[^/\s:@]+:[^/\s@]+@")
    for path in yaml_files():
        text = path.read_text()
        docs = [d for d in yaml.safe_load_all(text) if d]
        assert all(d.get("kind") != "Secret" for d in docs), path
        assert "secretGenerator" not in text, path
        assert not credentials_in_url.search(text), path


# --- Kafka -------------------------------------------------------------------------------------


def test_topics_are_the_event_contract(rendered: dict[str, list[Resource]], overlay: str) -> None:
    resources = rendered[overlay]
    (kafka,) = of_kind(resources, "Kafka")
    brokers = sum(
        pool["spec"]["replicas"] for pool in of_kind(resources, "KafkaNodePool") if "broker" in pool["spec"]["roles"]
    )
    topics = {t["spec"]["topicName"]: t for t in of_kind(resources, "KafkaTopic")}
    assert set(topics) == {topic_for(s) for s in SERVICES} | {f"{s}.checkpoints" for s in SERVICES}
    for name, topic in topics.items():
        spec = topic["spec"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"], name
        assert spec["config"]["retention.ms"] == -1, f"{name}: events are kept forever"
        assert spec["config"].get("retention.bytes", -1) == -1, name
        assert spec["config"].get("cleanup.policy", "delete") == "delete", f"{name}: every event, not the last per key"
        assert 1 <= spec["config"]["min.insync.replicas"] <= spec["replicas"] <= brokers, name
        if overlay == "prod":
            # Checkpoints stay on one partition: their order is what the verifier relies on.
            partitions = 1 if name.endswith(".checkpoints") else 12
            assert (spec["partitions"], spec["replicas"], spec["config"]["min.insync.replicas"]) == (
                partitions,
                3,
                2,
            ), name


def test_kafka_runs_in_kraft_mode_with_a_node_pool(rendered: dict[str, list[Resource]], overlay: str) -> None:
    resources = rendered[overlay]
    (kafka,) = of_kind(resources, "Kafka")
    # Strimzi's v1 API has no ZooKeeper at all; v1beta2 would need the KRaft/node-pool annotations.
    assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
    assert "zookeeper" not in kafka["spec"]
    pools = of_kind(resources, "KafkaNodePool")
    assert pools
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"] for p in pools)
    roles = {role for p in pools for role in p["spec"]["roles"]}
    assert roles == {"controller", "broker"}
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert controllers % 2 == 1, "a KRaft quorum has an odd number of controllers"
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    assert kafka["spec"]["entityOperator"]["topicOperator"] == {}
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    assert config["default.replication.factor"] <= brokers
    assert config["offsets.topic.replication.factor"] <= brokers


# --- Kafka users and what they may do ----------------------------------------------------------


def _kafka_users(resources: list[Resource]) -> dict[str, list[dict[str, Any]]]:
    (kafka,) = of_kind(resources, "Kafka")
    users = {}
    for user in of_kind(resources, "KafkaUser"):
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        users[user["metadata"]["name"]] = user["spec"]["authorization"]["acls"]
    return users


def acl_allows(acls: list[dict[str, Any]], kind: str, name: str, operation: str) -> bool:
    """Kafka's simple authorizer for one user's allow rules: literal or prefixed names, `All`;
    Read, Write, Delete or Alter imply Describe, as Kafka has it."""
    implied = {"Describe": {"Read", "Write", "Delete", "Alter"}}.get(operation, set())
    for rule in acls:
        assert rule.get("type", "allow") == "allow"
        resource = rule["resource"]
        if resource["type"] != kind:
            continue
        if kind != "cluster":
            pattern = resource.get("patternType", "literal")
            matched = name.startswith(resource["name"]) if pattern == "prefix" else name == resource["name"]
            if not matched:
                continue
        if {operation, "All"} & set(rule["operations"]) or implied & set(rule["operations"]):
            return True
    return False


def test_every_workload_connects_to_kafka_as_its_own_user(rendered: dict[str, list[Resource]], overlay: str) -> None:
    resources = rendered[overlay]
    users = _kafka_users(resources)
    (kafka,) = of_kind(resources, "Kafka")
    ca_file = config_data(resources)["KAFKA_SSL_CA_FILE"]
    for workload in workloads(resources):
        service = workload["metadata"]["labels"]["app.kubernetes.io/name"]
        for container in containers(workload):
            assert env_value(container, "KAFKA_SASL_USERNAME")["value"] == service
            secret = env_value(container, "KAFKA_SASL_PASSWORD")["valueFrom"]["secretKeyRef"]
            assert secret == {"name": service, "key": "password"}  # the User Operator's Secret
            assert service in users, f"no KafkaUser {service}"
            (mount,) = [m for m in container["volumeMounts"] if m["name"] == "kafka-ca"]
            assert ca_file == f"{mount['mountPath']}/ca.crt"
            assert mount["readOnly"] is True
        (volume,) = [v for v in pod_spec(workload)["volumes"] if v["name"] == "kafka-ca"]
        assert volume["secret"]["secretName"] == f"{kafka['metadata']['name']}-cluster-ca-cert"
        assert volume["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]


def test_the_acls_allow_what_each_service_does_and_nothing_of_anothers(
    rendered: dict[str, list[Resource]], overlay: str
) -> None:

    from shared.audit.checkpoints import checkpoint_topic
    from shared.consumer import consumer_group
    from shared.kafka import topic_for

    users = _kafka_users(rendered[overlay])
    assert set(users) == {*SERVICES, COMPLIANCE}
    every_topic = [t for s in SERVICES for t in (topic_for(s), checkpoint_topic(s))]
    for service in SERVICES:
        acls = users[service]
        spec = importlib.import_module(f"services.{service}.service").SPEC
        own = (topic_for(service), checkpoint_topic(service))
        for topic in own:  # publish (the relay, idempotent; the checkpoints) and read back
            assert acl_allows(acls, "topic", topic, "Write"), (service, topic)
            assert acl_allows(acls, "topic", topic, "Read"), (service, topic)
        assert acl_allows(acls, "cluster", "kafka-cluster", "IdempotentWrite"), service
        # What its code consumes: its Kafka projections' topics in their groups, and every
        # process follows identity.events for ended sessions (no group).
        assert acl_allows(acls, "topic", topic_for("identity"), "Read"), service
        for projection in spec.kafka_projections:
            for topic in projection.topics:
                assert acl_allows(acls, "topic", topic, "Read"), (service, topic)
            assert acl_allows(acls, "group", consumer_group(service, projection.name), "Read"), service
        for topic in every_topic:
            if topic not in own:
                assert not acl_allows(acls, "topic", topic, "Write"), f"{service} may write {topic}"
        for other in SERVICES:
            if other != service:
                assert not acl_allows(acls, "group", consumer_group(other, "authorization"), "Read"), service
        for topic in (*every_topic, "some.other.topic"):
            for operation in ("Create", "Delete", "Alter", "AlterConfigs"):
                assert not acl_allows(acls, "topic", topic, operation), (service, topic, operation)
    compliance = users[COMPLIANCE]
    for topic in every_topic:
        assert acl_allows(compliance, "topic", topic, "Read"), topic
        assert not acl_allows(compliance, "topic", topic, "Write"), topic
    assert not acl_allows(compliance, "cluster", "kafka-cluster", "IdempotentWrite")


def test_the_acl_reading_is_kafkas() -> None:
    """A control for `acl_allows`: prefixes, literals, implied Describe and other kinds."""
    acls = [
        {"resource": {"type": "topic", "name": "contacts.", "patternType": "prefix"}, "operations": ["Write"]},
        {"resource": {"type": "group", "name": "billing.x", "patternType": "literal"}, "operations": ["Read"]},
    ]
    assert acl_allows(acls, "topic", "contacts.events", "Write")
    assert acl_allows(acls, "topic", "contacts.events", "Describe")
    assert not acl_allows(acls, "topic", "contacts.events", "Read")
    assert not acl_allows(acls, "topic", "contactsevents", "Write")
    assert acl_allows(acls, "group", "billing.x", "Read")
    assert not acl_allows(acls, "group", "billing.xy", "Read")
    assert not acl_allows(acls, "cluster", "kafka-cluster", "IdempotentWrite")


# --- gateway -----------------------------------------------------------------------------------


def test_gateway_routes_each_service_prefix_on_one_hostname(rendered: dict[str, list[Resource]], overlay: str) -> None:
    resources = rendered[overlay]
    (route,) = of_kind(resources, "HTTPRoute")
    assert len(route["spec"]["hostnames"]) == 1
    routed = {}
    blocked = set()
    for rule in route["spec"]["rules"]:
        if "backendRefs" not in rule:
            # A rule without backends answers 404: how metrics stay off the public path.
            blocked |= {m["path"]["value"] for m in rule["matches"] if m["path"]["type"] == "Exact"}
            continue
        ((match,), (backend,)) = (rule["matches"], rule["backendRefs"])
        assert match["path"]["type"] == "PathPrefix"
        routed[match["path"]["value"]] = (backend["name"], backend["port"])
    assert routed == {f"/api/{s}": (f"{s}-api", port) for s, port in API_PORTS.items()}
    assert blocked == {f"/api/{s}/metrics" for s in API_PORTS}
    # Exact beats PathPrefix only if the blocked path is the one Prometheus scrapes.
    for api in API_PORTS:
        annotations = named(resources, "Deployment", f"{api}-api")["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] in blocked, api
    for name, port in routed.values():
        assert port in [p["port"] for p in named(resources, "Service", name)["spec"]["ports"]]


# --- environments ------------------------------------------------------------------------------


def test_everything_in_the_overlay_namespace(rendered: dict[str, list[Resource]], overlay: str) -> None:
    namespace = NAMESPACES[overlay]
    resources = rendered[overlay]
    (ns,) = of_kind(resources, "Namespace")
    assert ns["metadata"]["name"] == namespace
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted"
    for resource in resources:
        if resource["kind"] not in CLUSTER_SCOPED:
            assert resource["metadata"]["namespace"] == namespace, resource["metadata"]["name"]


def test_dev_is_one_of_everything(rendered: dict[str, list[Resource]]) -> None:
    dev = rendered["dev"]
    assert {h["spec"]["minReplicas"] for h in of_kind(dev, "HorizontalPodAutoscaler")} == {1}
    assert {d["spec"]["replicas"] for d in of_kind(dev, "Deployment") if "replicas" in d["spec"]} == {1}
    assert {c["spec"]["instances"] for c in of_kind(dev, "Cluster")} == {1}
    assert sum(p["spec"]["replicas"] for p in of_kind(dev, "KafkaNodePool")) == 1
    # With one replica a minAvailable budget would block every node drain.
    assert all("minAvailable" not in p["spec"] for p in of_kind(dev, "PodDisruptionBudget"))


def _quantity(value: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    for unit, factor in units.items():
        if value.endswith(unit):
            return float(value.removesuffix(unit)) * factor
    return float(value)


def test_prod_is_bigger_spread_and_guarded(rendered: dict[str, list[Resource]]) -> None:
    dev, prod = rendered["dev"], rendered["prod"]
    hpas = of_kind(prod, "HorizontalPodAutoscaler")
    assert all(h["spec"]["minReplicas"] >= 3 for h in hpas)
    workers = [d for d in of_kind(prod, "Deployment") if d["metadata"]["name"].endswith("-worker")]
    assert all(w["spec"]["replicas"] >= 3 for w in workers)
    for pdb in of_kind(prod, "PodDisruptionBudget"):
        assert pdb["spec"]["minAvailable"] >= 2
        assert "maxUnavailable" not in pdb["spec"]
        # A budget that the minimum replica count cannot exceed would block every drain.
        name = pdb["metadata"]["name"]
        deployment = named(prod, "Deployment", name)
        replicas = (
            deployment["spec"].get("replicas") or named(prod, "HorizontalPodAutoscaler", name)["spec"]["minReplicas"]
        )
        assert pdb["spec"]["minAvailable"] < replicas, name
    for deployment in of_kind(prod, "Deployment"):
        spread = pod_spec(deployment)["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for constraint in spread:
            assert selects(constraint["labelSelector"]["matchLabels"], labels)
            assert set(constraint["matchLabelKeys"]) <= {*labels, "pod-template-hash"}
        (container,) = pod_spec(deployment)["containers"]
        (dev_container,) = pod_spec(named(dev, "Deployment", deployment["metadata"]["name"]))["containers"]
        for resource in ("cpu", "memory"):
            assert _quantity(container["resources"]["limits"][resource]) > _quantity(
                dev_container["resources"]["limits"][resource]
            )
    assert {c["spec"]["instances"] for c in of_kind(prod, "Cluster")} == {3}
    assert {c["spec"]["affinity"]["podAntiAffinityType"] for c in of_kind(prod, "Cluster")} == {"required"}
    assert sum(p["spec"]["replicas"] for p in of_kind(prod, "KafkaNodePool")) >= 3


BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"


def test_prod_archives_and_backs_up_every_database(rendered: dict[str, list[Resource]]) -> None:
    prod = rendered["prod"]
    stores = {s["metadata"]["name"]: s for s in of_kind(prod, "ObjectStore")}
    schedules = {b["spec"]["cluster"]["name"]: b for b in of_kind(prod, "ScheduledBackup")}
    clusters = of_kind(prod, "Cluster")
    assert {c["metadata"]["name"] for c in clusters} == {f"{s}-db" for s in SERVICES}
    for cluster in clusters:
        name = cluster["metadata"]["name"]
        (archiver,) = [p for p in cluster["spec"].get("plugins", []) if p.get("isWALArchiver")]
        assert archiver["name"] == BARMAN_PLUGIN, name
        store = stores[archiver["parameters"]["barmanObjectName"]]  # the object store exists
        # Each cluster's backups go under its own name, which the store must not fix for all.
        assert "serverName" not in store["spec"]["configuration"]
        assert "serverName" not in archiver["parameters"], name
        schedule = schedules[name]
        assert schedule["spec"]["method"] == "plugin", name
        assert schedule["spec"]["pluginConfiguration"]["name"] == BARMAN_PLUGIN, name
    assert len(schedules) == len(clusters)
    assert len({b["spec"]["schedule"] for b in schedules.values()}) == len(schedules), "uploads not staggered"
    for store in stores.values():
        credentials = store["spec"]["configuration"]["s3Credentials"]
        for ref in credentials.values():  # from a Secret of the environment, never a literal
            assert set(ref) == {"name", "key"}
        assert not of_kind(prod, "Secret")
        assert store["spec"]["retentionPolicy"] == "30d"
    assert not of_kind(rendered["dev"], "ScheduledBackup")
    assert not any("plugins" in c["spec"] for c in of_kind(rendered["dev"], "Cluster"))


# --- the manifests agree with the code ---------------------------------------------------------


@pytest.mark.parametrize("service", tuple(API_PORTS))
def test_probed_and_scraped_paths_exist_in_the_app(rendered: dict[str, list[Resource]], service: str) -> None:
    """The paths the probes and Prometheus use are routes of the API's app (built, not started)."""
    if service == COMPLIANCE:
        app = compliance_serve.create_compliance_app("unused:9092", TestTokenIssuer().verifier())
    else:
        spec = importlib.import_module(f"services.{service}.service").SPEC
        settings = ServiceSettings(
            service=service, database_url="postgresql://unused/x", kafka_bootstrap_servers="unused:9092", port=1
        )
        app = create_app(spec, settings, with_workers=False)
    (container,) = pod_spec(named(rendered["prod"], "Deployment", f"{service}-api"))["containers"]
    probed = {container[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")}
    annotations = named(rendered["prod"], "Deployment", f"{service}-api")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(API_PORTS[service])
    for path in probed | {annotations["prometheus.io/path"]}:
        scope = {"type": "http", "method": "GET", "path": path, "root_path": ""}
        assert any(route.matches(scope)[0] == Match.FULL for route in app.router.routes), path
