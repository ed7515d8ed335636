-- The event store, which is also the transactional outbox: a committed row here *is* the record
-- that it must be published. Readers (the relay, projections) track how far they got with
-- PostgreSQL snapshots over transaction ids, never with "position > last seen" (see cursor.py).

CREATE TABLE events (
    position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_version  integer     NOT NULL CHECK (stream_version > 0),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    customer_number text        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    actor           text        NOT NULL,
    correlation_id  uuid        NOT NULL,
    causation_id    uuid,
    metadata        jsonb       NOT NULL DEFAULT '{}',
    data            jsonb       NOT NULL,
    -- SHA-256 over the previous event's chain_hash and this event's canonical form (chain.py).
    chain_hash      bytea       NOT NULL CHECK (length(chain_hash) = 32),
    UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_commit_order ON events (transaction_id, position);
CREATE INDEX events_customer ON events (customer_number, position);

-- Events are immutable facts: refuse UPDATE, DELETE and TRUNCATE outright.
CREATE FUNCTION events_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();

-- Wake readers at commit (NOTIFY is delivered only when the appending transaction commits).
CREATE FUNCTION events_notify_appended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('events_appended', '');
    RETURN NULL;
END $$;

CREATE TRIGGER events_appended AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_appended();

-- How far each reader (relay, projection) got, as a serialised cursor.
CREATE TABLE reader_positions (
    reader     text PRIMARY KEY,
    cursor     jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Kafka consumers store their offsets here, in the same transaction as the read-model change.
CREATE TABLE consumer_offsets (
    consumer   text    NOT NULL,
    topic      text    NOT NULL,
    partition  integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (consumer, topic, partition)
);

-- The last stream version each consumer applied: a redelivered or re-published event changes nothing.
CREATE TABLE consumer_stream_versions (
    consumer       text    NOT NULL,
    stream_id      text    NOT NULL,
    stream_version integer NOT NULL,
    PRIMARY KEY (consumer, stream_id)
);
