"""The AsyncAPI 3.0 document of the topics we publish, generated from the event classes.

One channel per topic, one message per event type *and schema version*, its payload the JSON
Schema of the event class (`event_schemas`), its headers the CloudEvents binary-mode attributes
documented in `shared.cloudevents` (parsed from that module's docstring, so the two cannot
disagree), its Kafka key the customer number (a message binding).

The committed document (`docs/asyncapi.yaml`) is also the baseline of the next generation:

* a version that is no longer the current one of its class stays in the document (copied from
  the baseline, marked superseded): its events are on the topic for ever;
* `evolution_problems` compares every (event type, version) of the baseline with the classes
  now: a breaking change under the same version (see `compatibility`), a bumped version
  without an upcaster from the old one, or an event type that disappeared, is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared import cloudevents
from shared.contracts import checkpoints
from shared.contracts.catalogue import PublishedTopic
from shared.contracts.compatibility import breaking_changes
from shared.contracts.event_schemas import event_schema
from shared.envelope import ActorKind, DomainEvent

ASYNCAPI_VERSION = "3.0.0"
DOCUMENT_VERSION = "1.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"

# As deployed (deploy/k8s/base/platform/topics.yaml; a test keeps the two equal).
TOPIC_PARTITIONS = 12
TOPIC_REPLICAS = 3
TOPIC_CONFIGURATION: dict[str, Any] = {"cleanup.policy": ["delete"], "retention.ms": -1, "retention.bytes": -1}

# The customer number (4 to 12 digits); identity's staff events use "0" (no customer has it).
CUSTOMER_KEY_PATTERN = "^(0|[0-9]{4,12})$"
OPTIONAL_HEADERS = frozenset({"ce_causationid", "ce_metadata"})
HEADERS_SCHEMA = "CloudEventsKafkaHeaders"

_MESSAGE_ID = re.compile(r"^(?P<service>[a-z][a-z0-9_]*)\.(?P<type>[A-Za-z][A-Za-z0-9]*)\.v(?P<version>[1-9][0-9]*)$")
_HEADER_LINE = re.compile(r"^\s{4}(?P<name>ce_[a-z]+|content-type)\s{2,}(?P<text>\S.*)$")

INFO_DESCRIPTION = """\
The events of the hosting accounts system (identity, contacts, billing, domains), one topic per
service. They are the system's published history: kept for ever (`retention.ms=-1`), never
rewritten, and enough to rebuild any read model from offset 0.

**Envelope: CloudEvents 1.0, Kafka protocol binding, binary content mode.** The record value is
the event's data as JSON (the message payload below); every envelope attribute is a record
header (`ce_*`, see the headers schema). `ce_type` is
`hosting.accounts.<service>.<EventType>.v<schema version>` and names the message.

**Key and order.** The record key is the customer number (UTF-8 digits; `0` for identity's staff
events). All events of one customer are on one partition, in the order they were committed;
per stream (`ce_streamid`) versions (`ce_streamversion`) increase by one.

**Delivery is at least once.** After a crash the same event may be published again with the
same `ce_id`, `ce_streamid` and `ce_streamversion`. Apply an event only if its stream version is
above the last one you applied for that stream (or remember `ce_id`s).

**Schemas are versioned.** A change that could break a consumer (a field removed or retyped, a
field made required) gets a new schema version (a new message here) and the services upcast
older events on read; older versions stay in this document, since their events stay on the
topic. Within a version, fields may be added (optional, with a default) and enum values may be
added: ignore fields you do not know and accept enum values you do not know.

No event carries a secret (no password, one-time password, token or hash).
"""


def header_descriptions() -> dict[str, str]:
    """Each Kafka header of an event and what it means, from `shared.cloudevents`' docstring."""
    headers: dict[str, str] = {}
    for line in (cloudevents.__doc__ or "").splitlines():
        if match := _HEADER_LINE.match(line):
            headers[match["name"]] = match["text"].strip()
    return headers


def headers_schema() -> dict[str, Any]:
    uuid_string: dict[str, Any] = {"type": "string", "format": "uuid"}
    positive = {"type": "string", "pattern": "^[1-9][0-9]*$"}
    constraints: dict[str, dict[str, Any]] = {
        "ce_specversion": {"type": "string", "const": cloudevents.SPEC_VERSION},
        "ce_id": uuid_string,
        "ce_source": {"type": "string", "pattern": "^/accounts/[a-z][a-z0-9_]*$"},
        "ce_type": {
            "type": "string",
            "pattern": "^"
            + re.escape(cloudevents.TYPE_PREFIX)
            + r"\.[a-z][a-z0-9_]*\.[A-Za-z][A-Za-z0-9]*\.v[1-9][0-9]*$",
        },
        "ce_time": {"type": "string", "format": "date-time"},
        "content-type": {"type": "string", "const": "application/json"},
        "ce_schemaversion": positive,
        "ce_streamversion": positive,
        "ce_customernumber": {"type": "string", "pattern": CUSTOMER_KEY_PATTERN},
        "ce_actorkind": {"type": "string", "enum": [kind.value for kind in ActorKind]},
        "ce_correlationid": uuid_string,
        "ce_causationid": uuid_string,
        "ce_metadata": {"type": "string", "contentMediaType": "application/json"},
    }
    descriptions = header_descriptions()
    properties = {
        name: {**constraints.get(name, {"type": "string"}), "description": text} for name, text in descriptions.items()
    }
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes as Kafka record headers (binary content mode), values UTF-8.",
        "properties": properties,
        "required": [name for name in descriptions if name not in OPTIONAL_HEADERS],
    }


def message_id(service: str, event_type: str, version: int) -> str:
    return f"{service}.{event_type}.v{version}"


def parse_message_id(mid: str) -> tuple[str, str, int] | None:
    match = _MESSAGE_ID.match(mid)
    return (match["service"], match["type"], int(match["version"])) if match else None


def _doc_of(cls: type[DomainEvent]) -> str | None:
    doc = cls.__doc__
    # A dataclass without a docstring gets its signature as __doc__; that says nothing new.
    if not doc or doc.startswith(f"{cls.__name__}("):
        return None
    return " ".join(doc.split())


def _message(service: str, cls: type[DomainEvent]) -> dict[str, Any]:
    mid = message_id(service, cls.event_type, cls.schema_version)
    ce_type = f"{cloudevents.TYPE_PREFIX}.{service}.{cls.event_type}.v{cls.schema_version}"
    message: dict[str, Any] = {
        "name": cls.event_type,
        "title": f"{cls.event_type} v{cls.schema_version}",
    }
    if doc := _doc_of(cls):
        message["summary"] = doc
    message.update(
        {
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "allOf": [
                    {"$ref": f"#/components/schemas/{HEADERS_SCHEMA}"},
                    {
                        "type": "object",
                        "properties": {
                            "ce_type": {"const": ce_type},
                            "ce_source": {"const": cloudevents.source_for(service)},
                            "ce_schemaversion": {"const": str(cls.schema_version)},
                        },
                    },
                ],
            },
            "payload": {"$ref": f"#/components/schemas/{mid}"},
            "correlationId": {"$ref": "#/components/correlationIds/correlationId"},
            "bindings": {"$ref": "#/components/messageBindings/customerNumberKey"},
        }
    )
    return message


def _channel_description(topic: PublishedTopic) -> str:
    text = f"Every event of the {topic.service} service, keyed by customer number."
    return f"{text} {topic.description}" if topic.description else text


def build(topics: Sequence[PublishedTopic], baseline: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The document for `topics`; versions only the baseline still knows are carried over."""
    base_messages: Mapping[str, Any] = (baseline or {}).get("components", {}).get("messages", {})
    base_schemas: Mapping[str, Any] = (baseline or {}).get("components", {}).get("schemas", {})
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {HEADERS_SCHEMA: headers_schema()}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in topics:
        ids: list[tuple[str, int, str]] = []
        for cls in topic.registry.classes:
            mid = message_id(topic.service, cls.event_type, cls.schema_version)
            messages[mid] = _message(topic.service, cls)
            schemas[mid] = event_schema(cls)
            ids.append((cls.event_type, cls.schema_version, mid))
        for mid, old_message in base_messages.items():
            parsed = parse_message_id(mid)
            if parsed is None or parsed[0] != topic.service or mid in messages or mid not in base_schemas:
                continue
            _, event_type, version = parsed
            current = topic.registry.class_for(event_type).schema_version if event_type in topic.registry else None
            messages[mid] = {
                **old_message,
                "description": f"Superseded by v{current}; events of this version stay on the topic and are "
                f"upcast to v{current} on read."
                if current
                else "No longer produced; events of this version stay on the topic.",
            }
            schemas[mid] = base_schemas[mid]
            ids.append((event_type, version, mid))
        ids.sort()
        channel_messages = {f"{t}.v{v}": {"$ref": f"#/components/messages/{mid}"} for t, v, mid in ids}
        channels[topic.topic] = {
            "address": topic.topic,
            "title": topic.topic,
            "description": _channel_description(topic),
            "messages": channel_messages,
            "bindings": {
                "kafka": {
                    "topic": topic.topic,
                    "partitions": TOPIC_PARTITIONS,
                    "replicas": TOPIC_REPLICAS,
                    "topicConfiguration": dict(TOPIC_CONFIGURATION),
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
        }
        operations[f"{topic.service}.publish"] = {
            "action": "send",
            "title": f"{topic.service} publishes its events",
            "summary": f"The {topic.service} service's relay publishes every committed event, in commit order per key.",
            "channel": {"$ref": f"#/channels/{topic.topic}"},
            "messages": [{"$ref": f"#/channels/{topic.topic}/messages/{key}"} for key in channel_messages],
        }
        if topic.checkpoints:
            _add_checkpoints(topic.service, channels, operations, messages, schemas)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Hosting accounts: published events",
            "version": DOCUMENT_VERSION,
            "description": INFO_DESCRIPTION,
        },
        "defaultContentType": "application/json",
        "servers": {
            "production": {
                "host": "accounts-kafka-bootstrap.accounts.svc:9093",
                "protocol": "kafka-secure",
                "description": "The Strimzi cluster in namespace `accounts`: TLS (the cluster CA in the Secret "
                "`accounts-cluster-ca-cert`) with SCRAM-SHA-512 users. A consuming team gets a KafkaUser of "
                "its own with Read on the topics it consumes; only the owning service may write a topic.",
                "security": [{"$ref": "#/components/securitySchemes/scramUser"}],
            },
            "development": {
                "host": "127.0.0.1:19092",
                "protocol": "kafka",
                "description": "The single-node broker of `make run` (plaintext).",
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "securitySchemes": {
                "scramUser": {
                    "type": "scramSha512",
                    "description": "A Kafka user of the cluster (Strimzi KafkaUser); its password in the "
                    "Secret of the same name.",
                }
            },
            "schemas": dict(sorted(schemas.items(), key=lambda item: (not item[0].startswith("CloudEvents"), item[0]))),
            "messages": dict(sorted(messages.items())),
            "correlationIds": {
                "correlationId": {
                    "description": "The request (or process) that led to the event; the same id is in the "
                    "services' log lines and their HTTP responses (X-Correlation-ID).",
                    "location": "$message.header#/ce_correlationid",
                }
            },
            "messageBindings": {
                "serviceKey": {
                    "kafka": {
                        "key": {"type": "string", "description": "The name of the service the checkpoint is of."},
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                },
                "customerNumberKey": {
                    "kafka": {
                        "key": {
                            "type": "string",
                            "pattern": CUSTOMER_KEY_PATTERN,
                            "description": "The customer number (UTF-8); all of a customer's events share "
                            "it, so they keep their order on one partition. `0` for identity's staff events.",
                        },
                        "bindingVersion": KAFKA_BINDING_VERSION,
                    }
                },
            },
        },
    }


def _add_checkpoints(
    service: str,
    channels: dict[str, Any],
    operations: dict[str, Any],
    messages: dict[str, Any],
    schemas: dict[str, Any],
) -> None:
    """The `<service>.checkpoints` channel: the store's tamper evidence (see shared.audit.checkpoints)."""
    address = f"{service}.checkpoints"
    key = checkpoints.PAYLOAD_SCHEMA
    mid = f"{address}.{key}"
    schemas[checkpoints.HEADERS_SCHEMA] = checkpoints.headers_schema(header_descriptions())
    schemas[checkpoints.PAYLOAD_SCHEMA] = checkpoints.payload_schema()
    messages[mid] = {
        "name": checkpoints.CHECKPOINT_TYPE,
        "title": f"{checkpoints.CHECKPOINT_TYPE} v{checkpoints.CHECKPOINT_VERSION}",
        "summary": "A checkpoint of the service's event store (one message per part).",
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "allOf": [
                {"$ref": f"#/components/schemas/{checkpoints.HEADERS_SCHEMA}"},
                {"type": "object", "properties": {"ce_source": {"const": cloudevents.source_for(service)}}},
            ],
        },
        "payload": {"$ref": f"#/components/schemas/{checkpoints.PAYLOAD_SCHEMA}"},
        "bindings": {"$ref": "#/components/messageBindings/serviceKey"},
    }
    channels[address] = {
        "address": address,
        "title": address,
        "description": f"Checkpoints of the {service} service's event store, in order (one partition). Verify "
        "the store's hash chains against them; a lost or altered checkpoint shows in the digest.",
        "messages": {key: {"$ref": f"#/components/messages/{mid}"}},
        "bindings": {
            "kafka": {
                "topic": address,
                "partitions": 1,
                "replicas": TOPIC_REPLICAS,
                "topicConfiguration": dict(TOPIC_CONFIGURATION),
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }
    operations[f"{service}.publishCheckpoints"] = {
        "action": "send",
        "title": f"{service} publishes checkpoints of its event store",
        "channel": {"$ref": f"#/channels/{address}"},
        "messages": [{"$ref": f"#/channels/{address}/messages/{key}"}],
    }


def evolution_problems(baseline: Mapping[str, Any], topics: Sequence[PublishedTopic]) -> list[str]:
    """Why the classes now would break consumers of the baseline (empty: they would not)."""
    by_service = {t.service: t for t in topics}
    problems: list[str] = []
    schemas: Mapping[str, Any] = baseline.get("components", {}).get("schemas", {})
    for mid, old_schema in schemas.items():
        parsed = parse_message_id(mid)
        if parsed is None:
            continue
        service, event_type, version = parsed
        topic = by_service.get(service)
        if topic is None:
            problems.append(f"{mid}: the {service} topic is no longer described")
            continue
        if event_type not in topic.registry:
            problems.append(f"{mid}: event type removed, but its events stay on {topic.topic}; keep the class")
            continue
        cls = topic.registry.class_for(event_type)
        if version == cls.schema_version:
            problems += [
                f"{mid} {change}; register a new schema version (v{version + 1}) with an upcaster from v{version}"
                for change in breaking_changes(old_schema, event_schema(cls))
            ]
        elif version < cls.schema_version:
            problems += [
                f"{mid}: no upcaster from v{v} to v{v + 1} of {event_type}"
                for v in range(version, cls.schema_version)
                if not topic.registry.has_upcaster(event_type, v)
            ]
        else:
            problems.append(f"{mid}: the class went back to v{cls.schema_version}")
    return problems


def message_schemas(document: Mapping[str, Any], mid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(headers, payload) JSON Schemas of one message, with the document's references resolved."""
    message = document["components"]["messages"][mid]
    return resolve(document, message["headers"]), resolve(document, message["payload"])


def resolve(document: Mapping[str, Any], node: Any) -> Any:
    """`node` with every local `$ref` replaced by what it points at."""
    if isinstance(node, list):
        return [resolve(document, item) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = document
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return resolve(document, target)
    return {key: resolve(document, value) for key, value in node.items()}


def render(document: Mapping[str, Any]) -> str:
    """The document as YAML, in a stable form (key order as built, long text as blocks)."""
    import yaml

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: object) -> bool:
            return True

    def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _text)
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def load(path: Path) -> dict[str, Any] | None:
    import yaml

    if not path.exists():
        return None
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else None
