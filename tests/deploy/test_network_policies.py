"""The NetworkPolicies (deploy/k8s/base/platform/network-policies.yaml), evaluated offline.

`admits` implements the Kubernetes ingress rules (a pod selected by no policy accepts
everything; a selected pod accepts a connection when some selecting policy has a rule whose
peers and ports both match; a peer's pod and namespace selectors are ANDed) over the pods the
overlays render, so each test asks the question an operator would: can X open a connection to Y
on this port?
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.settings import DEFAULT_PORTS
from tests.deploy.rendering import Resource
from tests.deploy.test_manifests import NAMESPACES, containers, named, of_kind, workloads

SERVICES = tuple(DEFAULT_PORTS)
GATEWAY_NAMESPACE = "gateway-system"
MONITORING_NAMESPACE = "monitoring"
CNPG_NAMESPACE = "cnpg-system"
POSTGRES_PORT = 5432
CNPG_STATUS_PORT = 8000


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)  # named container ports


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"selector form not evaluated here: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict[str, Any], policy_namespace: str, source: Pod) -> bool:
    assert "ipBlock" not in peer, "ipBlock peers are not evaluated here"
    namespace_labels = {"kubernetes.io/metadata.name": source.namespace}
    if "namespaceSelector" in peer:
        in_namespace = _matches(peer["namespaceSelector"], namespace_labels)
    else:
        in_namespace = source.namespace == policy_namespace
    return in_namespace and _matches(peer.get("podSelector", {}), source.labels)


def _port_matches(rule_ports: list[dict[str, Any]] | None, target: Pod, port: int) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        wanted = p["port"]
        number = target.ports.get(wanted) if isinstance(wanted, str) else wanted
        if number == port:
            return True
    return False


def admits(policies: list[Resource], target: Pod, source: Pod, port: int) -> bool:
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == target.namespace
        and "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        and _matches(p["spec"]["podSelector"], target.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            peers = rule.get("from")
            peer_ok = not peers or any(_peer_matches(x, policy["metadata"]["namespace"], source) for x in peers)
            if peer_ok and _port_matches(rule.get("ports"), target, port):
                return True
    return False


def pods(resources: list[Resource]) -> dict[str, Pod]:
    """Every workload's pod as rendered (labels after kustomize's), by workload name."""
    found = {}
    for workload in workloads(resources):
        template = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
        ports = {p["name"]: p["containerPort"] for c in containers(workload) for p in c.get("ports", []) if "name" in p}
        found[workload["metadata"]["name"]] = Pod(
            workload["metadata"]["namespace"], template["template"]["metadata"]["labels"], ports
        )
    return found


def database_pod(namespace: str, service: str) -> Pod:
    # CloudNativePG labels its instances with their cluster's name.
    return Pod(namespace, {"cnpg.io/cluster": f"{service}-db", "cnpg.io/podRole": "instance"})


def outside(namespace: str, **labels: str) -> Pod:
    return Pod(namespace, labels)


@pytest.fixture
def setup(rendered: dict[str, list[Resource]], overlay: str) -> tuple[list[Resource], dict[str, Pod], str]:
    resources = rendered[overlay]
    return of_kind(resources, "NetworkPolicy"), pods(resources), NAMESPACES[overlay]


def test_every_pod_refuses_what_no_policy_admits(setup: tuple[list[Resource], dict[str, Pod], str]) -> None:
    policies, workload_pods, namespace = setup
    stranger = outside(namespace, app="debug-shell")
    for name, pod in workload_pods.items():
        for port in (*pod.ports.values(), 22, 9999):
            assert not admits(policies, pod, stranger, port), f"{name} admits an unrelated pod on {port}"
    for service in SERVICES:
        assert not admits(policies, database_pod(namespace, service), stranger, POSTGRES_PORT)


def test_apis_are_reached_through_the_gateway_and_scraped_by_monitoring(
    setup: tuple[list[Resource], dict[str, Pod], str], rendered: dict[str, list[Resource]], overlay: str
) -> None:
    policies, workload_pods, _ = setup
    [parent] = named(rendered[overlay], "HTTPRoute", "accounts-api")["spec"]["parentRefs"]
    assert parent["namespace"] == GATEWAY_NAMESPACE  # the namespace the policy admits
    gateway = outside(GATEWAY_NAMESPACE, app="envoy")
    prometheus = outside(MONITORING_NAMESPACE, app="prometheus")
    other_team = outside("payments", app="consumer")
    apis = {name: pod for name, pod in workload_pods.items() if name.endswith("-api")}
    assert len(apis) == len(SERVICES) + 1  # and the compliance API
    for name, api in apis.items():
        port = api.ports["http"]
        assert admits(policies, api, gateway, port), name
        assert admits(policies, api, prometheus, port), name
        assert not admits(policies, api, other_team, port), name
        assert not admits(policies, api, gateway, port + 1), name


def test_only_identitys_api_takes_calls_from_the_other_services(
    setup: tuple[list[Resource], dict[str, Pod], str],
) -> None:
    policies, workload_pods, _ = setup
    identity = workload_pods["identity-api"]
    for name, pod in workload_pods.items():
        assert admits(policies, identity, pod, identity.ports["http"]), f"{name} cannot fetch the JWKS"
    contacts = workload_pods["contacts-api"]
    for name in ("billing-worker", "domains-api", "compliance-api"):
        assert not admits(policies, contacts, workload_pods[name], contacts.ports["http"]), name


def test_workers_serve_only_their_metrics_to_monitoring(setup: tuple[list[Resource], dict[str, Pod], str]) -> None:
    policies, workload_pods, _ = setup
    prometheus = outside(MONITORING_NAMESPACE, app="prometheus")
    gateway = outside(GATEWAY_NAMESPACE, app="envoy")
    for service in SERVICES:
        worker = workload_pods[f"{service}-worker"]
        assert admits(policies, worker, prometheus, worker.ports["metrics"])
        assert not admits(policies, worker, gateway, worker.ports["metrics"])
        assert not admits(policies, worker, workload_pods[f"{service}-api"], worker.ports["metrics"])


@pytest.mark.parametrize("service", SERVICES)
def test_a_database_is_reached_by_its_own_service_only(
    setup: tuple[list[Resource], dict[str, Pod], str], service: str
) -> None:
    policies, workload_pods, namespace = setup
    database = database_pod(namespace, service)
    own = {name: pod for name, pod in workload_pods.items() if pod.labels["app.kubernetes.io/name"] == service}
    assert {f"{service}-api", f"{service}-worker", f"{service}-migrate"} <= set(own)
    for name, pod in own.items():  # the identity key CronJobs included
        assert admits(policies, database, pod, POSTGRES_PORT), name
    for name, pod in workload_pods.items():
        if name not in own:
            assert not admits(policies, database, pod, POSTGRES_PORT), f"{name} reaches {service}'s database"
    # Replication between its instances, and CloudNativePG's operator.
    assert admits(policies, database, database_pod(namespace, service), POSTGRES_PORT)
    operator = outside(CNPG_NAMESPACE, app="cloudnative-pg")
    assert admits(policies, database, operator, CNPG_STATUS_PORT)
    assert admits(policies, database, operator, POSTGRES_PORT)
    others = [s for s in SERVICES if s != service]
    assert not admits(policies, database, database_pod(namespace, others[0]), POSTGRES_PORT)
    assert not admits(policies, database, outside(GATEWAY_NAMESPACE, app="envoy"), POSTGRES_PORT)
