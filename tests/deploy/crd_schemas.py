"""Small JSON Schemas (draft 2020-12) for the custom resources the manifests use.

kubernetes-validate bundles only built-in kinds. For the operators' kinds these schemas check what
their CRDs require (as of Strimzi 1.2 `kafka.strimzi.io/v1`, CloudNativePG 1.30
`postgresql.cnpg.io/v1`, its Barman Cloud plugin 0.16 `barmancloud.cnpg.io/v1`, Gateway API 1.6
`gateway.networking.k8s.io/v1`) and the types and enums of
the fields this project sets; they are written here from those CRDs' required lists, not copied.
Where a field's neighbours are known (from the CRD), `propertyNames` lists them all, so a typo is
an error here as it would be for the API server's strict field validation; the fields this
project does not use are not described further.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_QUANTITY = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$"}
_CPU_MEMORY = {
    "type": "object",
    "properties": {
        "requests": {"type": "object", "additionalProperties": _QUANTITY},
        "limits": {"type": "object", "additionalProperties": _QUANTITY},
    },
}
_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_COMPRESSIONS = ["bzip2", "gzip", "lz4", "snappy", "xz", "zstd"]
_ACL_OPERATIONS = [
    "Read",
    "Write",
    "Create",
    "Delete",
    "Alter",
    "Describe",
    "ClusterAction",
    "AlterConfigs",
    "DescribeConfigs",
    "IdempotentWrite",
    "All",
]


def _only(*names: str) -> Schema:
    """The complete list of a CRD object's field names (from the CRD), without their schemas."""
    return {"propertyNames": {"enum": list(names)}}


def _resource(api_version: str, kind: str, spec: Schema) -> Schema:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": _NAME,
                    "namespace": _NAME,
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
            "spec": spec,
        },
    }


_VOLUME = {
    "type": "object",
    **_only(
        "class", "deleteClaim", "id", "kraftMetadata", "selector", "size", "sizeLimit", "type", "volumeAttributesClass"
    ),
    "required": ["type"],
    "properties": {
        "id": {"type": "integer", "minimum": 0},
        "type": {"enum": ["ephemeral", "persistent-claim"]},
        "size": _QUANTITY,
        "deleteClaim": {"type": "boolean"},
        "kraftMetadata": {"enum": ["shared"]},
    },
}

KAFKA = _resource(
    "kafka.strimzi.io/v1",
    "Kafka",
    {
        "type": "object",
        **_only(
            "kafka",
            "entityOperator",
            "clusterCa",
            "clientsCa",
            "cruiseControl",
            "kafkaExporter",
            "maintenanceTimeWindows",
        ),
        "required": ["kafka"],
        "properties": {
            "kafka": {
                "type": "object",
                **_only(
                    "version",
                    "metadataVersion",
                    "image",
                    "listeners",
                    "config",
                    "authorization",
                    "rack",
                    "brokerRackInitImage",
                    "livenessProbe",
                    "readinessProbe",
                    "jvmOptions",
                    "jmxOptions",
                    "metricsConfig",
                    "logging",
                    "template",
                    "tieredStorage",
                    "quotas",
                ),
                "required": ["listeners"],
                "properties": {
                    "version": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$"},
                    "metadataVersion": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+(-IV[0-9]+)?$"},
                    "listeners": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["name", "port", "type", "tls"],
                            "properties": {
                                "name": {"type": "string", "pattern": r"^[a-z0-9]{1,11}$"},
                                "port": {"type": "integer", "minimum": 9092},
                                "type": {
                                    "enum": [
                                        "internal",
                                        "route",
                                        "tlsroute",
                                        "loadbalancer",
                                        "nodeport",
                                        "ingress",
                                        "cluster-ip",
                                    ]
                                },
                                "tls": {"type": "boolean"},
                                "authentication": {
                                    "type": "object",
                                    "required": ["type"],
                                    "properties": {"type": {"enum": ["tls", "scram-sha-512", "oauth", "custom"]}},
                                },
                            },
                        },
                    },
                    "authorization": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {"enum": ["simple", "keycloak", "opa", "custom"]},
                            "superUsers": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "config": {"type": "object"},
                    "rack": {
                        "type": "object",
                        "required": ["topologyKey"],
                        "properties": {"topologyKey": {"type": "string"}},
                    },
                },
            },
            "entityOperator": {
                "type": "object",
                "properties": {"topicOperator": {"type": "object"}, "userOperator": {"type": "object"}},
            },
        },
    },
)

KAFKA_NODE_POOL = _resource(
    "kafka.strimzi.io/v1",
    "KafkaNodePool",
    {
        "type": "object",
        **_only("replicas", "storage", "roles", "resources", "jvmOptions", "template"),
        "required": ["replicas", "storage", "roles"],
        "properties": {
            "replicas": {"type": "integer", "minimum": 0},
            "roles": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"enum": ["controller", "broker"]},
            },
            "storage": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": {"enum": ["ephemeral", "persistent-claim", "jbod"]},
                    "volumes": {"type": "array", "minItems": 1, "items": _VOLUME},
                },
            },
            "resources": _CPU_MEMORY,
            "jvmOptions": {"type": "object"},
            "template": {"type": "object"},
        },
    },
)

KAFKA_TOPIC = _resource(
    "kafka.strimzi.io/v1",
    "KafkaTopic",
    {
        "type": "object",
        **_only("topicName", "partitions", "replicas", "config"),
        "properties": {
            "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
            "partitions": {"type": "integer", "minimum": 1},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
            "config": {"type": "object"},
        },
    },
)

CNPG_CLUSTER = _resource(
    "postgresql.cnpg.io/v1",
    "Cluster",
    {
        "type": "object",
        **_only(
            "affinity",
            "backup",
            "bootstrap",
            "certificates",
            "description",
            "enablePDB",
            "enableSuperuserAccess",
            "env",
            "envFrom",
            "ephemeralVolumeSource",
            "ephemeralVolumesSizeLimit",
            "externalClusters",
            "failoverDelay",
            "imageCatalogRef",
            "imageName",
            "imagePullPolicy",
            "imagePullSecrets",
            "inheritedMetadata",
            "instances",
            "livenessProbeTimeout",
            "logLevel",
            "managed",
            "maxSyncReplicas",
            "minSyncReplicas",
            "monitoring",
            "nodeMaintenanceWindow",
            "plugins",
            "podSecurityContext",
            "podSelectorRefs",
            "postgresGID",
            "postgresUID",
            "postgresql",
            "primaryLease",
            "primaryUpdateMethod",
            "primaryUpdateStrategy",
            "priorityClassName",
            "probes",
            "projectedVolumeTemplate",
            "replica",
            "replicationSlots",
            "resources",
            "schedulerName",
            "seccompProfile",
            "securityContext",
            "serviceAccountName",
            "serviceAccountTemplate",
            "smartShutdownTimeout",
            "startDelay",
            "stopDelay",
            "storage",
            "superuserSecret",
            "switchoverDelay",
            "tablespaces",
            "topologySpreadConstraints",
            "walStorage",
        ),
        "required": ["instances", "storage"],
        "properties": {
            "instances": {"type": "integer", "minimum": 1},
            "imageName": {"type": "string", "minLength": 1},
            "primaryUpdateStrategy": {"enum": ["supervised", "unsupervised"]},
            # The CRD does not require a size, but a Cluster without one cannot create its volumes.
            "storage": {"type": "object", "required": ["size"], "properties": {"size": _QUANTITY}},
            "bootstrap": {
                "type": "object",
                "properties": {
                    "initdb": {
                        "type": "object",
                        "properties": {"database": {"type": "string"}, "owner": {"type": "string"}},
                    }
                },
            },
            "resources": _CPU_MEMORY,
            "plugins": {
                "type": "array",
                "items": {
                    "type": "object",
                    **_only("enabled", "isWALArchiver", "name", "parameters"),
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "isWALArchiver": {"type": "boolean"},
                        "parameters": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
            },
            "affinity": {
                "type": "object",
                **_only(
                    "additionalPodAffinity",
                    "additionalPodAntiAffinity",
                    "enablePodAntiAffinity",
                    "nodeAffinity",
                    "nodeSelector",
                    "podAntiAffinityType",
                    "tolerations",
                    "topologyKey",
                ),
                "properties": {
                    "enablePodAntiAffinity": {"type": "boolean"},
                    "podAntiAffinityType": {"enum": ["preferred", "required"]},
                    "topologyKey": {"type": "string"},
                },
            },
        },
        # As the CRD's validation rule says.
        "not": {"required": ["imageName", "imageCatalogRef"]},
    },
)

HTTP_ROUTE = _resource(
    "gateway.networking.k8s.io/v1",
    "HTTPRoute",
    {
        "type": "object",
        **_only("hostnames", "parentRefs", "rules", "useDefaultGateways"),
        "properties": {
            "parentRefs": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}},
                },
            },
            "hostnames": {
                "type": "array",
                "items": {
                    "type": "string",
                    "pattern": r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                },
            },
            "rules": {
                "type": "array",
                "maxItems": 16,
                "items": {
                    "type": "object",
                    **_only("backendRefs", "filters", "matches", "name", "timeouts", "retry", "sessionPersistence"),
                    "properties": {
                        "matches": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "path": {
                                        "type": "object",
                                        "properties": {
                                            "type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]},
                                            "value": {"type": "string", "pattern": "^/", "maxLength": 1024},
                                        },
                                    }
                                },
                            },
                        },
                        "backendRefs": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                # The CRD requires a port whenever the backend is a Service (the default kind).
                                "required": ["name", "port"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
)

KAFKA_USER = _resource(
    "kafka.strimzi.io/v1",
    "KafkaUser",
    {
        "type": "object",
        **_only("authentication", "authorization", "quotas", "template"),
        "properties": {
            "authentication": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": ["tls", "tls-external", "scram-sha-512"]}},
            },
            "authorization": {
                "type": "object",
                **_only("acls", "type"),
                "required": ["type", "acls"],
                "properties": {
                    "type": {"const": "simple"},
                    "acls": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            **_only("host", "operations", "resource", "type"),
                            "required": ["resource", "operations"],
                            "properties": {
                                "resource": {
                                    "type": "object",
                                    **_only("name", "patternType", "type"),
                                    "required": ["type"],
                                    "properties": {
                                        "type": {"enum": ["topic", "group", "cluster", "transactionalId"]},
                                        "name": {"type": "string", "minLength": 1},
                                        "patternType": {"enum": ["literal", "prefix"]},
                                    },
                                },
                                "operations": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"enum": _ACL_OPERATIONS},
                                },
                                "type": {"enum": ["allow", "deny"]},
                            },
                        },
                    },
                },
            },
        },
    },
)

_SECRET_KEY = {
    "type": "object",
    **_only("key", "name"),
    "required": ["key", "name"],
    "properties": {"name": _NAME, "key": {"type": "string", "minLength": 1}},
}

BARMAN_OBJECT_STORE = _resource(
    "barmancloud.cnpg.io/v1",
    "ObjectStore",
    {
        "type": "object",
        **_only("configuration", "instanceSidecarConfiguration", "retentionPolicy"),
        "required": ["configuration"],
        "properties": {
            "retentionPolicy": {"type": "string", "pattern": r"^[1-9][0-9]*[dwm]$"},
            "configuration": {
                "type": "object",
                **_only(
                    "azureCredentials",
                    "data",
                    "destinationPath",
                    "endpointCA",
                    "endpointURL",
                    "googleCredentials",
                    "historyTags",
                    "s3Credentials",
                    "serverName",
                    "tags",
                    "wal",
                ),
                "required": ["destinationPath"],
                # The plugin's CRD forbids serverName here: the Cluster's plugin parameters name it.
                "not": {"required": ["serverName"]},
                "properties": {
                    "destinationPath": {"type": "string", "minLength": 1},
                    "s3Credentials": {
                        "type": "object",
                        **_only("accessKeyId", "inheritFromIAMRole", "region", "secretAccessKey", "sessionToken"),
                        "properties": {"accessKeyId": _SECRET_KEY, "secretAccessKey": _SECRET_KEY},
                    },
                    "wal": {"type": "object", "properties": {"compression": {"enum": _COMPRESSIONS}}},
                    "data": {"type": "object", "properties": {"compression": {"enum": _COMPRESSIONS}}},
                },
            },
        },
    },
)

CNPG_SCHEDULED_BACKUP = _resource(
    "postgresql.cnpg.io/v1",
    "ScheduledBackup",
    {
        "type": "object",
        **_only(
            "backupOwnerReference",
            "cluster",
            "immediate",
            "method",
            "online",
            "onlineConfiguration",
            "pluginConfiguration",
            "schedule",
            "suspend",
            "target",
        ),
        "required": ["cluster", "schedule"],
        "properties": {
            # Six fields, seconds first (robfig/cron with seconds), as the operator parses it.
            "schedule": {"type": "string", "pattern": r"^\S+( \S+){5}$"},
            "cluster": {"type": "object", "required": ["name"], "properties": {"name": _NAME}},
            "method": {"enum": ["barmanObjectStore", "volumeSnapshot", "plugin"]},
            "pluginConfiguration": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
            "target": {"enum": ["primary", "prefer-standby"]},
            "backupOwnerReference": {"enum": ["none", "self", "cluster"]},
        },
    },
)

BY_KIND: dict[tuple[str, str], Schema] = {
    (schema["properties"]["apiVersion"]["const"], schema["properties"]["kind"]["const"]): schema
    for schema in (
        KAFKA,
        KAFKA_NODE_POOL,
        KAFKA_TOPIC,
        KAFKA_USER,
        CNPG_CLUSTER,
        CNPG_SCHEDULED_BACKUP,
        BARMAN_OBJECT_STORE,
        HTTP_ROUTE,
    )
}
