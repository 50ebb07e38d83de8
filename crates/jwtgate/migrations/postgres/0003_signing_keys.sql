-- Keys live in the database (SQLite's 0009 says why and how).
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    generation BIGINT NOT NULL UNIQUE,
    public_jwk TEXT NOT NULL,
    private_enc BYTEA,
    publish_at BIGINT NOT NULL,
    activate_at BIGINT NOT NULL,
    revoked_at BIGINT,
    destroyed_at BIGINT
);
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    secret_enc BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
