-- The revocation log (issue 14): every node of a cluster follows it, so a session ended or a
-- user cut off on one node is refused on all. An entry NOTIFYs `jwtgate_revocations` (delivered
-- only once its transaction commits, so a node woken by it always finds the entry), and each
-- node records in `cluster_nodes` how far it has applied the log, NOTIFYing `jwtgate_acks`, so
-- the node that revoked can answer once every live node has applied it. PostgreSQL carries
-- both: no second system on the path of a logout. Written by triggers, so no revoking statement,
-- present or future, can forget it. `seq` comes from one clock row, updated in the revoking
-- transaction: the row lock is held to commit, so seq order is commit order and a follower that
-- has seen seq N has seen every entry below N (an auto-increment id is handed out before commit
-- and can become visible after a larger one: a follower would skip it for good).
CREATE TABLE revocation_clock (
    id SMALLINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO revocation_clock (id, seq) VALUES (1, 0);

CREATE TABLE revocations (
    seq BIGINT PRIMARY KEY,
    -- 2: a session ended (subject: its id); 3: a user's cut-off raised (subject: the user id).
    kind SMALLINT NOT NULL,
    subject TEXT NOT NULL,
    cutoff BIGINT,
    -- When (unix seconds, the writer's clock): no unexpired token can match the entry one
    -- access-token lifetime (plus leeway) later, and it is pruned then.
    at BIGINT NOT NULL
);
CREATE INDEX revocations_at ON revocations (at);

CREATE TABLE cluster_nodes (
    node_id TEXT PRIMARY KEY,
    applied BIGINT NOT NULL,
    -- The database's clock, so nodes' clocks do not decide who is live.
    seen_at TIMESTAMPTZ NOT NULL
);

CREATE FUNCTION jwtgate_log_revocation(k SMALLINT, subj TEXT, c BIGINT, t BIGINT)
RETURNS void AS $$
DECLARE
    next BIGINT;
BEGIN
    UPDATE revocation_clock SET seq = seq + 1 WHERE id = 1 RETURNING seq INTO next;
    INSERT INTO revocations (seq, kind, subject, cutoff, at) VALUES (next, k, subj, c, t);
    PERFORM pg_notify('jwtgate_revocations', next::TEXT);
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION jwtgate_session_ended() RETURNS trigger AS $$
BEGIN
    PERFORM jwtgate_log_revocation(2::SMALLINT, NEW.id, NULL, NEW.ended_at);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

-- A session found expired and closed on a refresh revokes nothing (its access tokens run to
-- their `exp`, as on a single node); every other end does.
CREATE TRIGGER sessions_ended AFTER UPDATE OF ended_at ON sessions FOR EACH ROW
    WHEN (OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL
          AND NEW.end_reason IS DISTINCT FROM 'session_expired')
    EXECUTE FUNCTION jwtgate_session_ended();

CREATE FUNCTION jwtgate_cutoff_raised() RETURNS trigger AS $$
BEGIN
    PERFORM jwtgate_log_revocation(3::SMALLINT, NEW.id, NEW.tokens_not_before, NEW.tokens_not_before);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_cutoff_raised AFTER UPDATE OF tokens_not_before ON users FOR EACH ROW
    WHEN (NEW.tokens_not_before IS NOT NULL
          AND NEW.tokens_not_before IS DISTINCT FROM OLD.tokens_not_before)
    EXECUTE FUNCTION jwtgate_cutoff_raised();
