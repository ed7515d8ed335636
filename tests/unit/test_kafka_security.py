"""The Kafka clients' security settings: read once from the environment, refused when incomplete,
passed by every client the code constructs, and the password never in a repr."""

from __future__ import annotations

import ast
import ssl
from pathlib import Path

import pytest

from shared.kafka_security import KafkaSecurity, KafkaSecurityError

REPO = Path(__file__).resolve().parents[2]
CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaClient", "AIOKafkaAdminClient"}


def test_plain_text_by_default() -> None:
    assert KafkaSecurity.from_env({}).client_options() == {"security_protocol": "PLAINTEXT"}


def test_scram_over_tls() -> None:
    options = KafkaSecurity.from_env(
        {"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_USERNAME": "contacts", "KAFKA_SASL_PASSWORD": "pw"}
    ).client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("contacts", "pw")
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "contacts"}, "KAFKA_SASL_PASSWORD"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_PASSWORD": "pw"}, "KAFKA_SASL_USERNAME"),
        (
            {
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SASL_MECHANISM": "GSSAPI",
                "KAFKA_SASL_USERNAME": "u",
                "KAFKA_SASL_PASSWORD": "p",
            },
            "KAFKA_SASL_MECHANISM",
        ),
        ({"KAFKA_SASL_USERNAME": "contacts", "KAFKA_SASL_PASSWORD": "pw"}, "KAFKA_SASL_USERNAME"),
        ({"KAFKA_SSL_CA_FILE": "/etc/ssl/ca.pem"}, "KAFKA_SSL_CA_FILE"),
        ({"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CA_FILE": "/nonexistent/ca.pem"}, "KAFKA_SSL_CA_FILE"),
    ],
)
def test_an_incomplete_or_contradictory_setting_is_refused_by_name(environment: dict[str, str], named: str) -> None:
    with pytest.raises(KafkaSecurityError, match=named):
        KafkaSecurity.from_env(environment)


def test_the_password_is_not_in_the_repr() -> None:
    security = KafkaSecurity.from_env(
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_USERNAME": "contacts", "KAFKA_SASL_PASSWORD": "hunter2x"}
    )
    assert "hunter2x" not in repr(security)
    assert "contacts" in repr(security)


def test_a_service_does_not_start_on_a_wrong_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.settings import ServiceSettings

    monkeypatch.setenv("DATABASE_URL", "postgresql://db/x")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.delenv("KAFKA_SASL_USERNAME", raising=False)
    with pytest.raises(KafkaSecurityError):
        ServiceSettings.from_env("contacts")


def _called(node: ast.AST) -> str | None:
    """The name a call calls (`f(...)` or `x.f(...)`), if `node` is a call."""
    if not isinstance(node, ast.Call):
        return None
    return node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)


def _client_calls(path: Path) -> list[tuple[int, bool]]:
    """(line, passes **client_options()) for every construction of an aiokafka client."""
    return [
        (node.lineno, any(k.arg is None and _called(k.value) == "client_options" for k in node.keywords))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and _called(node) in CLIENTS
    ]


def test_every_kafka_client_in_the_code_takes_the_security_settings() -> None:
    calls = {
        f"{path.relative_to(REPO)}:{line}": secured
        for folder in ("shared", "services", "deploy")
        for path in sorted((REPO / folder).rglob("*.py"))
        for line, secured in _client_calls(path)
    }
    assert len(calls) >= 10, calls  # the scan sees the clients (producer, consumers, admin, metadata)
    assert [where for where, secured in calls.items() if not secured] == []


def test_the_scan_notices_a_client_without_them(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text(
        "from aiokafka import AIOKafkaConsumer\n"
        "a = AIOKafkaConsumer(bootstrap_servers=b)\n"
        "b = AIOKafkaConsumer(bootstrap_servers=b, **client_options())\n"
    )
    assert _client_calls(source) == [(2, False), (3, True)]
