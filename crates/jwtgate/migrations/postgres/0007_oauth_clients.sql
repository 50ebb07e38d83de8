-- The OAuth client registry (issue 15): the applications the OpenID Connect provider will
-- serve. Same shape as SQLite's 0011: a confidential client's secret is kept as its SHA-256
-- only (256 random bits: a slow hash would add nothing), a public client has none; redirect
-- URIs (exactly as given) and grants are JSON arrays as TEXT, as users.roles is.
-- `seq` keeps the order clients were made in (two in one second stay in order).
CREATE TABLE oauth_clients (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('public', 'confidential')),
    secret_sha256 BYTEA UNIQUE,
    redirect_uris TEXT NOT NULL DEFAULT '[]',
    grants TEXT NOT NULL DEFAULT '[]',
    first_party BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    CHECK ((kind = 'public') = (secret_sha256 IS NULL))
);
