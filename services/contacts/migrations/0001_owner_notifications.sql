-- E-mails to the account owner about personnel changes, queued in the same transaction as the
-- events that cause them and sent by the notifier (at least once; see notifier.py).
CREATE TABLE owner_notifications (
    notification_id uuid        PRIMARY KEY,  -- the id of the event that caused it
    customer_number text        NOT NULL,
    kind            text        NOT NULL,
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    sent_to         text,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text
);

CREATE INDEX owner_notifications_pending ON owner_notifications (created_at) WHERE sent_at IS NULL;
