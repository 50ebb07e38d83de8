-- Todos keep the order they were made in: `seq` counts up with every new item, so two made in
-- one second no longer come back in the order of their random ids. SQLite cannot add such a
-- column to a table, so the table is made again, its rows copied in their old order.
CREATE TABLE todos_ordered (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO todos_ordered (id, user_id, title, done, created_at, updated_at)
    SELECT id, user_id, title, done, created_at, updated_at FROM todos ORDER BY created_at, rowid;
DROP TABLE todos;
ALTER TABLE todos_ordered RENAME TO todos;
CREATE INDEX todos_user ON todos(user_id, seq);
