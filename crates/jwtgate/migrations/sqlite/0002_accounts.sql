-- Accounts part A: email verification, single-use email tokens, and the audit log.
-- Times are Unix seconds (INTEGER).

-- NULL until the address is proven by a verify-email link.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER;

-- Single-use tokens (password reset, email verification). Only the SHA-256 of the token's `jti`
-- is stored; the signed token itself never touches the disk. `used_at` is set by one atomic
-- `UPDATE ... WHERE used_at IS NULL`, which is what makes a link single-use.
CREATE TABLE one_time_tokens (
    jti_hash   BLOB PRIMARY KEY NOT NULL,
    purpose    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX one_time_tokens_user ON one_time_tokens(user_id, purpose);

-- Security events. No foreign keys: the trail outlives the accounts it mentions.
-- Never holds a password or a token (ids, addresses and codes only).
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    actor_id   TEXT,
    subject_id TEXT,
    ip         TEXT,
    event      TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT
);
CREATE INDEX audit_events_subject ON audit_events(subject_id, id);
CREATE INDEX audit_events_actor ON audit_events(actor_id, id);
