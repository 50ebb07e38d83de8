-- The OAuth client registry (issue 15): the applications the OpenID Connect provider will
-- serve (`jwtgate client`, `/api/admin/clients`). The built-in web client (`jwtgate`) is not a
-- row: it is part of the server. A confidential client's secret is shown once; only its
-- SHA-256 is kept (it is 256 random bits: a slow hash would add nothing). A public client has
-- none. Redirect URIs are kept exactly as given (they are matched by exact string comparison);
-- they and the grants are JSON arrays of strings, as users.roles is.
-- `seq` keeps the order clients were made in (two in one second stay in order).
CREATE TABLE oauth_clients (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('public', 'confidential')),
    secret_sha256 BLOB UNIQUE,
    redirect_uris TEXT NOT NULL DEFAULT '[]',
    grants TEXT NOT NULL DEFAULT '[]',
    first_party INTEGER NOT NULL DEFAULT 0 CHECK (first_party IN (0, 1)),
    created_at INTEGER NOT NULL,
    CHECK ((kind = 'public') = (secret_sha256 IS NULL))
);
