-- Secrets of the domains service: written in the same transaction as the events that report the
-- change, never published, never logged. Only hashes are kept.

-- One-time links with which a mailbox's owner sets its first password (SHA-256 of the token).
CREATE TABLE mailbox_password_links (
    token_hash      bytea       PRIMARY KEY,
    customer_number text        NOT NULL,
    domain          text        NOT NULL,
    mailbox_id      uuid        NOT NULL,
    address         text        NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz
);
CREATE INDEX mailbox_password_links_domain ON mailbox_password_links (domain);

-- Mailbox passwords (argon2id), as their owners set them.
CREATE TABLE mailbox_passwords (
    mailbox_id    uuid        PRIMARY KEY,
    domain        text        NOT NULL,
    address       text        NOT NULL,
    password_hash text        NOT NULL,
    set_at        timestamptz NOT NULL
);
CREATE INDEX mailbox_passwords_domain ON mailbox_passwords (domain);

-- The current FTP password of each domain (argon2id).
CREATE TABLE ftp_credentials (
    domain          text        PRIMARY KEY,
    customer_number text        NOT NULL,
    username        text        NOT NULL,
    password_hash   text        NOT NULL,
    issued_at       timestamptz NOT NULL
);
