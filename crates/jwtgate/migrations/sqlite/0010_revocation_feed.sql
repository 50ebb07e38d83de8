-- The revocation log on the embedded default too (issue 17): services that verify jwtgate's
-- tokens on their own read it as a feed (`/revocations`, `/revocations/stream`), so a logout on
-- a single node reaches them as it reaches a cluster's nodes. Written by triggers, as on
-- PostgreSQL (migration 0004 there), so no revoking statement can forget it. SQLite has one
-- writer at a time: an AUTOINCREMENT seq is handed out inside the write transaction, so seq
-- order is commit order and a reader that has seen N has seen everything below N.
CREATE TABLE revocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 2: a session ended (subject: its id); 3: a user's cut-off raised (subject: the user id);
    -- 4: a signing key revoked (subject: its kid).
    kind INTEGER NOT NULL,
    subject TEXT NOT NULL,
    cutoff INTEGER,
    -- When (unix seconds): no unexpired token can match the entry one access-token lifetime
    -- (plus leeway) later, and it is pruned then.
    at INTEGER NOT NULL
);
CREATE INDEX revocations_at ON revocations (at);

CREATE TRIGGER sessions_ended AFTER UPDATE OF ended_at ON sessions
    WHEN OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL
         AND NEW.end_reason IS NOT 'session_expired'
BEGIN
    INSERT INTO revocations (kind, subject, cutoff, at) VALUES (2, NEW.id, NULL, NEW.ended_at);
END;

CREATE TRIGGER users_cutoff_raised AFTER UPDATE OF tokens_not_before ON users
    WHEN NEW.tokens_not_before IS NOT NULL AND NEW.tokens_not_before IS NOT OLD.tokens_not_before
BEGIN
    INSERT INTO revocations (kind, subject, cutoff, at)
        VALUES (3, NEW.id, NEW.tokens_not_before, NEW.tokens_not_before);
END;

CREATE TRIGGER signing_key_revoked AFTER UPDATE OF revoked_at ON signing_keys
    WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
    INSERT INTO revocations (kind, subject, cutoff, at) VALUES (4, NEW.kid, NULL, NEW.revoked_at);
END;

-- Which log a cursor belongs to: made once here, so a database restored from a dump of
-- another, or started afresh, is told apart from the one a reader followed.
CREATE TABLE revocation_log (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    log_id TEXT NOT NULL
);
INSERT INTO revocation_log (id, log_id) VALUES (1, lower(hex(randomblob(16))));

-- Credentials of the services that read the feed (`jwtgate feed-credential`): the secret is
-- shown once; only its SHA-256 is kept (it is 256 random bits: a slow hash would add nothing).
CREATE TABLE feed_credentials (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_sha256 BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
