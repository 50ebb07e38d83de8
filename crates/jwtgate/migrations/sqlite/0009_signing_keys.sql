-- Keys live in the database, so every node that shares it signs and publishes the same keys
-- (issue 13). Private halves and server secrets are sealed with AES-256-GCM under the master
-- key (`master_key_file`), their `kid` or name as associated data; the database alone opens
-- nothing. A key's state is computed from its times (domain/signing.rs), never stored, so all
-- nodes agree on it by the clock alone. `generation` is unique: two nodes that decide to add
-- "the next key" at once cannot both add one.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    generation INTEGER NOT NULL UNIQUE,
    public_jwk TEXT NOT NULL,
    private_enc BLOB,
    publish_at INTEGER NOT NULL,
    activate_at INTEGER NOT NULL,
    revoked_at INTEGER,
    destroyed_at INTEGER
);
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    secret_enc BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
