"""Prometheus metrics of the kernel, shared by every service (one registry per process).

Served at `/api/<service>/metrics` by the API and, with WORKER_METRICS_PORT set, at `/metrics` of a
`worker` process (relay, projection and consumer metrics live where those loops run).
"""

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
PROJECTION_POSITION = Gauge(
    "projection_position", "Store position of the last event a projection applied (insertion order)", ["projection"]
)
PROJECTION_LAG = Gauge("projection_lag_events", "Committed events a projection has not applied yet", ["projection"])
LOGIN_FAILURES = Counter(
    "login_failures_total", "Failed logins (wrong password, unknown subject, ...)", ["kind", "reason"]
)
LOGINS_THROTTLED = Counter("login_throttled_total", "Login attempts refused by the throttle (HTTP 429)", ["kind"])
ACCOUNTS_THROTTLED = Counter(
    "accounts_throttled_total",
    "Accounts whose failures crossed a throttle threshold (AccountThrottled)",
    ["kind", "reason"],
)
REVOKED_SESSIONS = Gauge(
    "revoked_sessions_remembered", "Sessions identity ended whose tokens this process refuses (shared.auth.revocations)"
)
TOKENS_OF_ENDED_SESSIONS = Counter(
    "tokens_of_ended_sessions_refused_total", "Valid access tokens refused because identity ended their session"
)
SESSION_CONFIRMATIONS = Counter(
    "session_confirmations_total",
    "Sessions asked about at identity while identity.events could not be read (shared.auth.session_confirmation)",
    ["outcome"],  # live, ended, unavailable
)
AUTHORIZATION_COPY_BEHIND = Gauge(
    "authorization_copy_behind_seconds",
    "How long this service's copy of contacts' authorizations has been behind the topic (0: current)",
    ["consumer"],
)
SUPPORT_REQUESTS_DEFERRED = Counter(
    "support_requests_deferred_total",
    "Support requests on behalf of someone refused (503) while the authorization copy was not current",
    ["consumer"],
)
MAIL_DELIVERIES = Counter(
    "mail_deliveries_total",
    "Mails handed to the SMTP server (sent) or refused by it or unreachable (failed)",
    ["outcome"],
)
WORKER_LOOP_RESTARTS = Counter(
    "worker_loop_restarts_total",
    "Background loops (relay, projection, consumer, checkpoints) started again after they failed",
    ["service", "loop"],
)
CHECKPOINT_ROUNDS = Counter(
    "checkpoint_rounds_total",
    "Checkpoint publisher rounds: published, unchanged (nothing to publish) or failed",
    ["service", "outcome"],
)
