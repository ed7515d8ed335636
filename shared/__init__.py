"""The event-sourcing kernel shared by all four services.

Written once, used everywhere: the event envelope and registry, the PostgreSQL event store
(which doubles as the transactional outbox), the relay to Kafka, the projection and consumer
runners, the HTTP error layer, logging and settings. Nothing in here knows a service.
"""
