"""Kafka clients configured the one way the kernel uses them, and the topic names."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.client import AIOKafkaClient

from shared.kafka_security import client_options

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
        **client_options(),
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
        **client_options(),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=1000,
        isolation_level="read_uncommitted",
    )


async def topic_partitions(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
    """All partitions of the topics, from a fresh metadata request."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap, **client_options())
    await client.bootstrap()
    try:
        cluster = await client.fetch_all_metadata()
        return [TopicPartition(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or ())]
    finally:
        await client.close()


async def partitions_of(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    """The partitions of the topics that exist, from fresh metadata through the consumer's own client
    (its cached metadata knows only topics it was asked about before)."""
    await consumer._client.set_topics(topics)
    await consumer._client.force_metadata_update()
    return [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
