-- Users are listed in the order they were made in: `seq` counts up with every new account, so
-- two made in one second (a CLI-made administrator and the first sign-ups) no longer come back
-- in the order of their random ids. The users table is referenced by every other table, so it
-- is not made again (as todos were in 0007): existing rows take their rowid, which SQLite
-- hands out in insertion order, and a trigger numbers each new row the same way.
ALTER TABLE users ADD COLUMN seq INTEGER;
UPDATE users SET seq = rowid;
CREATE TRIGGER users_seq AFTER INSERT ON users WHEN NEW.seq IS NULL
BEGIN
    UPDATE users SET seq = NEW.rowid WHERE rowid = NEW.rowid;
END;
CREATE INDEX users_seq ON users(seq);
