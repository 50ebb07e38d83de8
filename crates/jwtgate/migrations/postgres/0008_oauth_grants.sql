-- The OpenID Connect provider's state (issue 15).
-- A session belongs to a client: `jwtgate` (the built-in web client, every session before
-- this) or a registered app, signed in through /authorize. An app's session records the
-- scope it was granted and the web session (`parent_id`) it was authorised from, so
-- RP-initiated logout can end both. Refresh tokens are bound to their session's client.
ALTER TABLE sessions ADD COLUMN client_id TEXT NOT NULL DEFAULT 'jwtgate';
ALTER TABLE sessions ADD COLUMN scope TEXT;
ALTER TABLE sessions ADD COLUMN parent_id TEXT;
CREATE INDEX sessions_parent ON sessions(parent_id) WHERE parent_id IS NOT NULL;

-- Authorization codes: only the SHA-256 is kept; single-use (`used_at`), short-lived
-- (`expires_at`); `session_id` is the session its redemption created, ended if the code
-- comes back (RFC 6749 §4.1.2).
CREATE TABLE oauth_codes (
    code_hash BYTEA PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    parent_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    session_id TEXT
);
CREATE INDEX oauth_codes_expires ON oauth_codes(expires_at);

-- What each user allowed each app (the consent screen's answer), until they take it back.
CREATE TABLE oauth_consents (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
