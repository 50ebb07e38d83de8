-- Users are listed in the order they were made in (SQLite's 0008): `seq` counts up with every
-- new account, so two made in one second no longer come back in the order of their random ids.
ALTER TABLE users ADD COLUMN seq BIGSERIAL;
CREATE INDEX users_seq ON users(seq);
