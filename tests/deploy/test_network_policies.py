"""The NetworkPolicies (deploy/k8s/base/platform/network-policies.yaml), evaluated offline.

`admits` implements the Kubernetes ingress rules (a pod selected by no policy accepts
everything; a selected pod accepts a connection when some selecting policy has a rule whose
peers and ports both match; a peer's pod and namespace selectors are ANDed), `lets_out` the same
rules for egress (ipBlock peers included, for addresses outside the cluster), and `connects`
both, over the pods the overlays render, so each test asks the question an operator would: can
X open a connection to Y on this port?
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.settings import DEFAULT_PORTS
from tests.deploy.rendering import Resource
from tests.deploy.test_manifests import NAMESPACES, config_data, containers, named, of_kind, workloads

SERVICES = tuple(DEFAULT_PORTS)
GATEWAY_NAMESPACE = "gateway-system"
MONITORING_NAMESPACE = "monitoring"
CNPG_NAMESPACE = "cnpg-system"
POSTGRES_PORT = 5432
CNPG_STATUS_PORT = 8000
KAFKA_PORTS = (9093,)  # the one listener: TLS with SCRAM users (kafka.yaml)
MAIL_SENDERS = SERVICES  # the four services send mail (identity, contacts, billing, domains)


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)  # named container ports
    address: str | None = None  # set for a host outside the cluster (no namespace, no labels)


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"selector form not evaluated here: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer_matches(peer: dict[str, Any], policy_namespace: str, other: Pod) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        if other.address is None:
            return False  # (how a CNI treats pod IPs in an ipBlock varies; the policies do not rely on it)
        address = ipaddress.ip_address(other.address)
        networks = [ipaddress.ip_network(block["cidr"]), *map(ipaddress.ip_network, block.get("except", []))]
        inside = [address.version == n.version and address in n for n in networks]
        return inside[0] and not any(inside[1:])
    if other.address is not None:
        return False  # selectors name pods; a host outside the cluster is none
    namespace_labels = {"kubernetes.io/metadata.name": other.namespace}
    if "namespaceSelector" in peer:
        in_namespace = _matches(peer["namespaceSelector"], namespace_labels)
    else:
        in_namespace = other.namespace == policy_namespace
    return in_namespace and _matches(peer.get("podSelector", {}), other.labels)


def _port_matches(rule_ports: list[dict[str, Any]] | None, target: Pod, port: int, protocol: str) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        wanted = p["port"]
        number = target.ports.get(wanted) if isinstance(wanted, str) else wanted
        if number == port and p.get("protocol", "TCP") == protocol:
            return True
    return False


def _allowed(policies: list[Resource], direction: str, source: Pod, target: Pod, port: int, protocol: str) -> bool:
    """Whether the policies of one end (`target`'s ingress, or `source`'s egress) let a connection
    from `source` to `target` on `port` through."""
    if direction == "in":
        kind, key, peers_key, selected, other = "Ingress", "ingress", "from", target, source
    else:
        kind, key, peers_key, selected, other = "Egress", "egress", "to", source, target
    selecting = [
        p
        for p in policies
        if selected.address is None
        and p["metadata"]["namespace"] == selected.namespace
        and kind in p["spec"].get("policyTypes", ["Ingress"])
        and _matches(p["spec"]["podSelector"], selected.labels)
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(key, []):
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(x, policy["metadata"]["namespace"], other) for x in peers)
            if peer_ok and _port_matches(rule.get("ports"), target, port, protocol):
                return True
    return False


def admits(policies: list[Resource], target: Pod, source: Pod, port: int, protocol: str = "TCP") -> bool:
    """`target`'s ingress policies accept `source` on `port`."""
    return _allowed(policies, "in", source, target, port, protocol)


def lets_out(policies: list[Resource], source: Pod, target: Pod, port: int, protocol: str = "TCP") -> bool:
    """`source`'s egress policies let it connect to `target` on `port`."""
    return _allowed(policies, "out", source, target, port, protocol)


def connects(policies: list[Resource], source: Pod, target: Pod, port: int, protocol: str = "TCP") -> bool:
    return lets_out(policies, source, target, port, protocol) and admits(policies, target, source, port, protocol)


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


def kafka_broker(namespace: str, cluster: str = "accounts") -> Pod:
    # Strimzi's labels on the broker pods of a Kafka cluster.
    return Pod(namespace, {"strimzi.io/cluster": cluster, "strimzi.io/broker-role": "true"})


DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
ANYWHERE = Pod("", {}, address="203.0.113.25")  # a host on the internet (TEST-NET-3)


def _service_of(pod: Pod) -> str:
    return pod.labels["app.kubernetes.io/name"]


def test_every_pod_of_the_system_reaches_dns_kafka_and_the_jwks(
    setup: tuple[list[Resource], dict[str, Pod], str], rendered: dict[str, list[Resource]], overlay: str
) -> None:
    policies, workload_pods, namespace = setup
    (kafka,) = of_kind(rendered[overlay], "Kafka")
    brokers = kafka_broker(namespace, kafka["metadata"]["name"])
    identity = workload_pods["identity-api"]
    for name, pod in workload_pods.items():
        assert connects(policies, pod, DNS, 53, "UDP"), f"{name} cannot resolve names"
        assert connects(policies, pod, DNS, 53, "TCP"), name
        for port in KAFKA_PORTS:  # (the brokers' ingress is Strimzi's own policies' business)
            assert lets_out(policies, pod, brokers, port), f"{name} cannot reach Kafka on {port}"
        assert connects(policies, pod, identity, identity.ports["http"]), f"{name} cannot fetch the JWKS"


@pytest.mark.parametrize("service", SERVICES)
def test_a_services_pods_reach_its_own_database_and_no_other(
    setup: tuple[list[Resource], dict[str, Pod], str], service: str
) -> None:
    policies, workload_pods, namespace = setup
    own = {name: pod for name, pod in workload_pods.items() if _service_of(pod) == service}
    for name, pod in own.items():
        assert connects(policies, pod, database_pod(namespace, service), POSTGRES_PORT), name
        for other in SERVICES:
            if other != service:  # refused on the way out already, not only by the database's ingress
                assert not lets_out(policies, pod, database_pod(namespace, other), POSTGRES_PORT), (name, other)


def test_nothing_else_goes_out(setup: tuple[list[Resource], dict[str, Pod], str]) -> None:
    policies, workload_pods, namespace = setup
    contacts_api = workload_pods["contacts-api"]
    for name, pod in workload_pods.items():
        assert not lets_out(policies, pod, ANYWHERE, 443), f"{name} may send data to the internet"
        assert not lets_out(policies, pod, ANYWHERE, 53, "UDP"), f"{name} may use any name server"
        assert not lets_out(policies, pod, DNS, 443), name
        for port in (9091, 9092, 9094):  # Strimzi's replication listener, a plain one, any other
            assert not lets_out(policies, pod, kafka_broker(namespace), port), (name, port)
        assert not lets_out(policies, pod, outside("payments", app="consumer"), 8080), name
        if name != "contacts-api":  # only identity's API is called by the others
            assert not lets_out(policies, pod, contacts_api, contacts_api.ports["http"]), name
    compliance = workload_pods["compliance-api"]
    for service in SERVICES:  # the compliance API reads the topics only
        assert not lets_out(policies, compliance, database_pod(namespace, service), POSTGRES_PORT), service


def test_mail_goes_out_on_the_configured_smtp_port_only(
    setup: tuple[list[Resource], dict[str, Pod], str], rendered: dict[str, list[Resource]], overlay: str
) -> None:
    policies, workload_pods, _ = setup
    smtp_port = int(config_data(rendered[overlay])["SMTP_PORT"])
    relay_in_cluster = outside("mail", app="relay")
    for name, pod in workload_pods.items():
        sends = _service_of(pod) in MAIL_SENDERS
        assert lets_out(policies, pod, ANYWHERE, smtp_port) == sends, name
        assert lets_out(policies, pod, relay_in_cluster, smtp_port) == sends, name
        for port in {25, 465, 587} - {smtp_port}:
            assert not lets_out(policies, pod, ANYWHERE, port), (name, port)


def test_the_operators_pods_are_not_limited_on_the_way_out(setup: tuple[list[Resource], dict[str, Pod], str]) -> None:
    """CloudNativePG's instances and Strimzi's brokers talk to the API server, to each other and
    to backup storage; their egress is left to their operators."""
    policies, _, namespace = setup
    for pod in (database_pod(namespace, "contacts"), kafka_broker(namespace)):
        assert lets_out(policies, pod, ANYWHERE, 443)
        assert lets_out(policies, pod, database_pod(namespace, "billing"), POSTGRES_PORT)
