"""Kafka clients configured the one way the kernel uses them, and the topic names."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

SERVICES = ("identity", "contacts", "billing", "domains")


def topic_for(service: str) -> str:
    """The public contract: each service publishes to `<service>.events`."""
    return f"{service}.events"


def idempotent_producer(bootstrap: str, client_id: str) -> AIOKafkaProducer:
    # Idempotence gives per-partition ordering without duplicates on internal retries; acks=all
    # so an acknowledged event survives a broker failover in a real cluster.
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        linger_ms=2,
        max_batch_size=256 * 1024,
        compression_type=None,
        request_timeout_ms=30000,
    )


def manual_commit_consumer(bootstrap: str, group_id: str, *topics: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        client_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1000,
        isolation_level="read_uncommitted",
    )
