-- Notices about a changed invoice e-mail address (to the previous and to the new address),
-- queued in the same transaction as InvoiceEmailChanged and sent by notices.py (at least once).
CREATE TABLE invoice_email_notices (
    notice_id       uuid        PRIMARY KEY,  -- uuid5(event id, role): one per recipient and change
    event_id        uuid        NOT NULL,
    customer_number text        NOT NULL,
    recipient       text        NOT NULL,
    role            text        NOT NULL CHECK (role IN ('previous', 'new')),
    payload         jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),  -- real time: a retry schedule, not a fact
    last_error      text
);

CREATE INDEX invoice_email_notices_pending ON invoice_email_notices (next_attempt_at) WHERE sent_at IS NULL;
