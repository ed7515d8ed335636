-- Identity's private tables. Everything secret lives here and nowhere else: password hashes,
-- one-time-password hashes, refresh-token hashes and the token signing keys. Rows are written in
-- the same transaction as the events that report the change (without the secret).

-- One row per login subject: customers (by customer number) and staff users (by user name).
-- password_hash is an argon2id PHC string; NULL while a customer has not set a password yet.
CREATE TABLE credentials (
    subject_kind  text        NOT NULL CHECK (subject_kind IN ('customer', 'staff')),
    subject       text        NOT NULL,
    password_hash text,
    roles         text[]      NOT NULL,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (subject_kind, subject)
);

-- The one live one-time password of a customer (a new request replaces the row's code).
-- issued_at keeps the recent issue times, to limit how many mails one account can trigger.
CREATE TABLE one_time_passwords (
    customer_number text        PRIMARY KEY,
    otp_id          uuid        NOT NULL,
    code_hash       text        NOT NULL,
    expires_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    used_at         timestamptz,
    issued_at       timestamptz[] NOT NULL DEFAULT '{}'
);

-- A login session (the family of rotating refresh tokens). Revoking it ends every token of it.
CREATE TABLE sessions (
    session_id     uuid        PRIMARY KEY,
    subject_kind   text        NOT NULL CHECK (subject_kind IN ('customer', 'staff')),
    subject        text        NOT NULL,
    auth_time      timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text
);

CREATE INDEX sessions_live_by_subject ON sessions (subject_kind, subject) WHERE revoked_at IS NULL;

-- Refresh tokens by SHA-256 of the token (they are 256-bit random strings, so a fast hash
-- suffices: there is nothing to brute-force). used_at set = spent; presenting it again is reuse.
CREATE TABLE refresh_tokens (
    token_hash  bytea       PRIMARY KEY,
    session_id  uuid        NOT NULL REFERENCES sessions (session_id),
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);

CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- Failed-login bookkeeping per throttling key ('account:<kind>:<subject>' or 'address:<ip>'):
-- the times of the failures within the last window, shared by every replica.
CREATE TABLE login_throttle (
    key        text          PRIMARY KEY,
    failures   timestamptz[] NOT NULL DEFAULT '{}',
    updated_at timestamptz   NOT NULL
);

CREATE INDEX login_throttle_updated ON login_throttle (updated_at);

-- Ed25519 token signing keys. The private key (PKCS#8 PEM) never leaves this table; the JWKS
-- endpoint publishes the public halves of the keys not retired.
CREATE TABLE signing_keys (
    kid         text        PRIMARY KEY,
    private_key text        NOT NULL,
    public_jwk  jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);
