-- The login throttle shared by every node (issue 14): failure counters and lockouts by key
-- (`account:<normalised email>`, `ip:<address>`, `device:<nonce>`, `session:<id>`), so wrong
-- passwords spread over several nodes lock an account after exactly the configured number,
-- with the same Retry-After on every node. A failed sign-in already costs a password hash and
-- a database read; the counter is one more row write beside them.
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure BIGINT NOT NULL,
    locked_until BIGINT NOT NULL
);
