-- A deleted account leaves a tombstone without personal data: no address (a placeholder that
-- matches no mailbox), no password, no roles. It keeps the id, so the audit trail and the
-- token cut-off (refusing its tokens until they expire, across restarts) still have a row.
ALTER TABLE users ADD COLUMN deleted_at INTEGER;
