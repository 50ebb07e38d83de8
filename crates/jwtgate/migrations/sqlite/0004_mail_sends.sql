-- Every mail that went out (or was about to), so each kind of mail is rationed per recipient,
-- per client address and server-wide, on every node and across restarts. The recipient is
-- kept only as a SHA-256 of its canonical mailbox (lower case, "+tag" removed). Times are Unix
-- seconds; rows older than an hour are pruned.
CREATE TABLE mail_sends (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    recipient BLOB NOT NULL,
    client_ip TEXT NOT NULL
);
CREATE INDEX mail_sends_recipient ON mail_sends(recipient, at);
CREATE INDEX mail_sends_client ON mail_sends(client_ip, at);
CREATE INDEX mail_sends_at ON mail_sends(at);
