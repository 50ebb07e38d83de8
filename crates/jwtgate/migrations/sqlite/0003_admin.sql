-- Part B of issue 4: administration, plans, todos. Times are Unix seconds (INTEGER).

-- Set while an administrator has disabled the account: login answers account_disabled.
ALTER TABLE users ADD COLUMN disabled_at INTEGER;
-- Access tokens of this user issued before this instant are refused (set on a role change).
-- Kept in the database so a restart puts the cut-off back into the revocation view.
ALTER TABLE users ADD COLUMN tokens_not_before INTEGER;

CREATE TABLE todos (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX todos_user ON todos(user_id, created_at);
