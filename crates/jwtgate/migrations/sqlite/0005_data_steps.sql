-- One-time data steps that need more than SQL (Unicode normalisation of stored addresses):
-- done once per database, at the first start of the version that brings them.
CREATE TABLE data_steps (
    name    TEXT PRIMARY KEY NOT NULL,
    done_at INTEGER NOT NULL
);
