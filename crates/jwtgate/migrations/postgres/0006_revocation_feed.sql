-- The revocation feed for services that verify on their own (issue 17): the log of migration
-- 0004 gains signing-key revocations (kind 4, subject: the kid), a log id, and the feed's
-- credentials. Same shape as SQLite's 0010.
CREATE FUNCTION jwtgate_key_revoked() RETURNS trigger AS $$
BEGIN
    PERFORM jwtgate_log_revocation(4::SMALLINT, NEW.kid, NULL, NEW.revoked_at);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER signing_key_revoked AFTER UPDATE OF revoked_at ON signing_keys FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION jwtgate_key_revoked();

-- Which log a cursor belongs to: made once here, so a database restored from a dump of
-- another, or started afresh, is told apart from the one a reader followed.
CREATE TABLE revocation_log (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    log_id TEXT NOT NULL
);
INSERT INTO revocation_log (id, log_id) VALUES (1, md5(random()::TEXT || clock_timestamp()::TEXT));

-- Credentials of the services that read the feed: only the secret's SHA-256 is kept (it is 256
-- random bits: a slow hash would add nothing).
CREATE TABLE feed_credentials (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_sha256 BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
