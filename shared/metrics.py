"""Prometheus metrics of the kernel, shared by every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
EVENTS_APPENDED = Counter("events_appended_total", "Events appended to the store", ["service"])
RELAY_PUBLISHED = Counter("relay_published_total", "Events published to Kafka by the relay", ["topic"])
RELAY_LAG = Gauge("relay_lag_events", "Committed events not yet published", ["topic"])
CONSUMER_APPLIED = Counter("consumer_events_total", "Kafka events handled by a consumer", ["consumer", "outcome"])
CONSUMER_LAG = Gauge(
    "consumer_lag_records", "Records between the consumer position and the log end", ["consumer", "topic", "partition"]
)
PROJECTION_EVENTS = Counter("projection_events_total", "Events applied by a projection", ["projection"])
