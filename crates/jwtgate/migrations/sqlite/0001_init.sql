-- Accounts, sessions and refresh tokens. Times are Unix seconds (INTEGER).
CREATE TABLE users (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles         TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
    plan          TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY NOT NULL,
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at          INTEGER NOT NULL,
    last_used_at        INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    user_agent          TEXT,
    ip                  TEXT,
    ended_at            INTEGER,
    end_reason          TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_ended_at ON sessions(ended_at) WHERE ended_at IS NOT NULL;

-- Only the SHA-256 of a refresh token is stored; the plaintext never touches the disk.
CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    spent_at   INTEGER
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
