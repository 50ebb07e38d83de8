-- The PostgreSQL schema: the same tables as the SQLite migrations 0001 to 0007, in one step.
-- Times are Unix seconds (BIGINT); hashes are BYTEA; roles are a JSON array as TEXT, as on
-- SQLite, so both backends read and write the same values.

CREATE TABLE users (
    id                TEXT PRIMARY KEY NOT NULL,
    email             TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    roles             TEXT NOT NULL DEFAULT '[]',
    plan              TEXT,
    created_at        BIGINT NOT NULL,
    -- NULL until the address is proven by a verify-email link.
    email_verified_at BIGINT,
    -- Set while an administrator has disabled the account.
    disabled_at       BIGINT,
    -- Access tokens of this user issued before this instant are refused.
    tokens_not_before BIGINT,
    -- A tombstone: no address (a placeholder), no password, no roles; the id stays.
    deleted_at        BIGINT,
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY NOT NULL,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL,
    last_used_at        BIGINT NOT NULL,
    idle_expires_at     BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    user_agent          TEXT,
    ip                  TEXT,
    ended_at            BIGINT,
    end_reason          TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_ended_at ON sessions(ended_at) WHERE ended_at IS NOT NULL;

-- Only the SHA-256 of a refresh token is stored; the plaintext never touches the disk.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at  BIGINT NOT NULL,
    spent_at   BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

-- Single-use tokens (password reset, email verification, address change). Only the SHA-256
-- of the token's `jti` is stored.
CREATE TABLE one_time_tokens (
    jti_hash   BYTEA PRIMARY KEY NOT NULL,
    purpose    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX one_time_tokens_user ON one_time_tokens(user_id, purpose);

-- Security events. No foreign keys: the trail outlives the accounts it mentions.
CREATE TABLE audit_events (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor_id   TEXT,
    subject_id TEXT,
    ip         TEXT,
    event      TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT
);
CREATE INDEX audit_events_subject ON audit_events(subject_id, id);
CREATE INDEX audit_events_actor ON audit_events(actor_id, id);

-- `seq` counts up with every new item: the order they were made in.
CREATE TABLE todos (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    done       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX todos_user ON todos(user_id, seq);

-- Every mail that went out (or was about to), for the ration; the recipient only as a hash.
CREATE TABLE mail_sends (
    id        BIGSERIAL PRIMARY KEY,
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    recipient BYTEA NOT NULL,
    client_ip TEXT NOT NULL
);
CREATE INDEX mail_sends_recipient ON mail_sends(recipient, at);
CREATE INDEX mail_sends_client ON mail_sends(client_ip, at);
CREATE INDEX mail_sends_at ON mail_sends(at);

-- One-time data steps that need more than SQL; done once per database.
CREATE TABLE data_steps (
    name    TEXT PRIMARY KEY NOT NULL,
    done_at BIGINT NOT NULL
);
