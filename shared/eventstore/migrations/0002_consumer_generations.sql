-- A Kafka consumer's generation: raised when its read model and stored offsets are replaced
-- (a rebuilt copy put in place). A running consumer applies a batch only under the generation it
-- last sought at; seeing a newer one, it seeks to the stored offsets again instead.
CREATE TABLE consumer_generations (
    consumer   text   PRIMARY KEY,
    generation bigint NOT NULL DEFAULT 0
);
