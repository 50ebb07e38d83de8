//! Store methods for the revocation log (`revocations`: written by triggers, PostgreSQL's
//! migrations 0004 and 0006, SQLite's 0010; read by every node's follower and by the feed), its
//! push (`LISTEN`, PostgreSQL), and how far each node has applied it (`cluster_nodes`). Only SQL;
//! must not import axum, the domain or jwtgate-verify.

use super::{Columns, Pool, Store, StoreError};

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// Every token of this session, from `at`.
    Session { id: String, at: i64 },
    /// Every token of this user issued before `cutoff`.
    User { id: String, cutoff: i64 },
    /// Every token signed with this key, from `at`.
    Key { kid: String, at: i64 },
}

/// One entry of the log and its place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: i64,
    pub revoked: Revoked,
}

/// What [`Store::revocations_after`] read: entries in `seq` order, and the last `seq`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPage {
    pub entries: Vec<LogEntry>,
    /// The `seq` of the last entry read (the `after` given when none was).
    pub last: i64,
}

/// A node's listening connection to the log: wakes on a new entry and on another node's
/// acknowledgement.
pub struct LogListener(sqlx::postgres::PgListener);

impl std::fmt::Debug for LogListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogListener")
    }
}

/// What woke a [`LogListener`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSignal {
    /// An entry was committed (read the log).
    Entry,
    /// `node` has applied the log up to `applied`.
    Ack { node: String, applied: i64 },
}

const ENTRIES: &str = "jwtgate_revocations";
const ACKS: &str = "jwtgate_acks";

impl LogListener {
    /// The next signal. Notifications sent while the connection was down are lost: the caller
    /// reads the log on a timer as well.
    pub async fn next(&mut self) -> Result<LogSignal, StoreError> {
        loop {
            let note = self.0.recv().await?;
            if note.channel() == ENTRIES {
                return Ok(LogSignal::Entry);
            }
            if let Some((node, applied)) = note.payload().rsplit_once(' ')
                && let Ok(applied) = applied.parse()
            {
                return Ok(LogSignal::Ack {
                    node: node.to_owned(),
                    applied,
                });
            }
        }
    }
}

impl Store {
    /// Listens to the log's push and the nodes' acknowledgements, on this store's connection
    /// (a [`Store::detached`] one: the listener keeps it). `None` on SQLite.
    pub async fn listen_revocations(&self) -> Result<Option<LogListener>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen_all([ENTRIES, ACKS]).await?;
        Ok(Some(LogListener(listener)))
    }

    /// Records that `node` is alive and has applied the log up to `applied`; with `announce`,
    /// tells every listening node (the node that revoked waits for it). Returns how many nodes
    /// are live (seen within `live_ms` by the database's clock, this one included).
    pub async fn record_applied(
        &self,
        node: &str,
        applied: i64,
        announce: bool,
        live_ms: i64,
    ) -> Result<i64, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(1);
        };
        let row = sqlx::query(
            "WITH up AS (INSERT INTO cluster_nodes (node_id, applied, seen_at) \
             VALUES ($1, $2, clock_timestamp()) ON CONFLICT (node_id) DO UPDATE \
             SET applied = GREATEST(cluster_nodes.applied, EXCLUDED.applied), \
             seen_at = EXCLUDED.seen_at RETURNING applied) \
             SELECT CASE WHEN $3 THEN pg_notify('jwtgate_acks', $1 || ' ' || up.applied) END \
             AS sent, 1 + (SELECT count(*) FROM cluster_nodes WHERE node_id <> $1 \
             AND seen_at > clock_timestamp() - make_interval(secs => $4::float8 / 1000)) \
             AS live FROM up",
        )
        .bind(node)
        .bind(applied)
        .bind(announce)
        .bind(live_ms)
        .fetch_one(pool)
        .await?;
        Ok(row.column("live")?)
    }

    /// The nodes seen within `within_ms` (by the database's clock), with how far each has
    /// applied the log.
    pub async fn live_nodes(&self, within_ms: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(Vec::new());
        };
        sqlx::query(
            "SELECT node_id, applied FROM cluster_nodes \
             WHERE seen_at > clock_timestamp() - make_interval(secs => $1::float8 / 1000)",
        )
        .bind(within_ms)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| Ok((row.column("node_id")?, row.column("applied")?)))
        .collect()
    }

    /// A node leaving: the others stop waiting for it at once.
    pub async fn forget_node(&self, node: &str) -> Result<(), StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(());
        };
        sqlx::query("DELETE FROM cluster_nodes WHERE node_id = $1")
            .bind(node)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// The `seq` of the newest entry of the revocation log (0 while it is empty).
    pub async fn revocation_head(&self) -> Result<i64, StoreError> {
        Ok(match &self.pool {
            Pool::Postgres(pool) => sqlx::query("SELECT seq FROM revocation_clock WHERE id = 1")
                .fetch_one(pool)
                .await?
                .column("seq")?,
            // AUTOINCREMENT's own counter: pruning every entry does not take the head back.
            Pool::Sqlite(pool) => sqlx::query(
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'revocations'), 0) \
                 AS seq",
            )
            .fetch_one(pool)
            .await?
            .column("seq")?,
        })
    }

    /// The log's id: another id means another log, whose `seq`s say nothing of this one's.
    pub async fn revocation_log_id(&self) -> Result<String, StoreError> {
        with_pool!(self, pool, {
            Ok(
                sqlx::query("SELECT log_id FROM revocation_log WHERE id = 1")
                    .fetch_one(pool)
                    .await?
                    .column("log_id")?,
            )
        })
    }

    /// Up to `limit` entries after `after`, in `seq` (commit) order.
    pub async fn revocations_after(&self, after: i64, limit: i64) -> Result<LogPage, StoreError> {
        let rows: Vec<(i64, i16, String, Option<i64>, i64)> = with_pool!(self, pool, {
            sqlx::query(
                "SELECT seq, kind, subject, cutoff, at FROM revocations WHERE seq > $1 \
                 ORDER BY seq LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.column("seq")?,
                    row.column("kind")?,
                    row.column("subject")?,
                    row.column("cutoff")?,
                    row.column("at")?,
                ))
            })
            .collect::<Result<_, StoreError>>()?
        });
        let mut page = LogPage {
            entries: Vec::with_capacity(rows.len()),
            last: after,
        };
        for (seq, kind, id, cutoff, at) in rows {
            let revoked = match kind {
                2 => Revoked::Session { id, at },
                3 => Revoked::User {
                    id,
                    cutoff: cutoff.unwrap_or_default(),
                },
                4 => Revoked::Key { kid: id, at },
                other => return Err(StoreError::Corrupt(format!("revocation kind {other}"))),
            };
            page.entries.push(LogEntry { seq, revoked });
            page.last = seq;
        }
        Ok(page)
    }

    /// Deletes log entries made before `before`: no unexpired token can match them. Any node
    /// may run it, any number of times.
    pub async fn prune_revocations(&self, before: i64) -> Result<u64, StoreError> {
        with_pool!(self, pool, {
            Ok(sqlx::query("DELETE FROM revocations WHERE at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    /// A store of its own (one connection) on the same database, for a task that must not
    /// wait behind the request path's connections (the revocation follower).
    pub async fn detached(&self) -> Result<Store, StoreError> {
        Ok(match &self.pool {
            Pool::Postgres(pool) => Store {
                pool: Pool::Postgres(
                    sqlx::postgres::PgPoolOptions::new()
                        .max_connections(1)
                        .acquire_timeout(std::time::Duration::from_secs(1))
                        .connect_lazy_with((*pool.connect_options()).clone()),
                ),
            },
            Pool::Sqlite(_) => self.clone(),
        })
    }
}
