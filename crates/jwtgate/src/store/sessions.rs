//! Store methods for the session list, revocation by user and account reads by id (part A of
//! the accounts issue). Only SQL; must not import axum, the domain or jwtgate-verify.

use sqlx::Row;

use super::{Store, StoreError, UserRow, user_from_row};

/// Which sessions of a user to end, when and why.
#[derive(Debug, Clone, Copy)]
pub struct EndSessions<'a> {
    pub user_id: &'a str,
    /// The session to leave alone (a password change keeps the caller's own).
    pub keep: Option<&'a str>,
    pub now: i64,
    pub reason: &'a str,
}

/// A session as the session list shows it.
#[derive(Debug, Clone)]
pub struct SessionListRow {
    pub id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The registered app's name, for an app's session (`None` for the web client's).
    pub app: Option<String>,
}

impl Store {
    /// The user's live sessions (not ended, not past either expiry at `now`), most recently used
    /// first.
    pub async fn live_sessions_of(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<SessionListRow>, StoreError> {
        with_pool!(self, pool, {
            let rows = sqlx::query(
                "SELECT s.id, s.created_at, s.last_used_at, s.user_agent, s.ip, c.name AS app \
             FROM sessions s LEFT JOIN oauth_clients c ON c.id = s.client_id \
             WHERE s.user_id = $1 AND s.ended_at IS NULL AND s.idle_expires_at > $2 \
             AND s.absolute_expires_at > $3 \
             ORDER BY s.last_used_at DESC, s.created_at DESC, s.id",
            )
            .bind(user_id)
            .bind(now)
            .bind(now)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(SessionListRow {
                        id: r.try_get("id")?,
                        created_at: r.try_get("created_at")?,
                        last_used_at: r.try_get("last_used_at")?,
                        user_agent: r.try_get("user_agent")?,
                        ip: r.try_get("ip")?,
                        app: r.try_get("app")?,
                    })
                })
                .collect()
        })
    }

    /// Ends every unended session of `user_id` (expired ones included, so they record a reason)
    /// except `keep`, and, with `cut_off`, raises the user's token cut-off, in one transaction.
    /// Returns the ids of the sessions it ended.
    pub async fn end_user_sessions(
        &self,
        end: &EndSessions<'_>,
        cut_off: Option<i64>,
    ) -> Result<Vec<String>, StoreError> {
        with_pool!(self, pool, {
            let mut tx = pool.begin().await?;
            if let Some(cutoff) = cut_off {
                raise_cutoff!(tx, end.user_id, cutoff);
            }
            let ended = end_sessions!(tx, end);
            tx.commit().await?;
            Ok(ended)
        })
    }

    /// Whether `session_id` is an unended session of `user_id`.
    pub async fn is_unended_session_of(
        &self,
        session_id: &str,
        user_id: &str,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool, {
            let row = sqlx::query(
                "SELECT 1 AS one FROM sessions WHERE id = $1 AND user_id = $2 AND ended_at IS NULL",
            )
            .bind(session_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
            Ok(row.is_some())
        })
    }

    pub async fn user_by_id(&self, user_id: &str) -> Result<Option<UserRow>, StoreError> {
        with_pool!(self, pool, {
            let row = sqlx::query(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users u WHERE u.id = $1"
            ))
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    /// Marks the address verified, only if the account still has that address (a link for an
    /// old address must not verify a new one). Returns whether a row changed.
    pub async fn mark_email_verified(
        &self,
        user_id: &str,
        email: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool, {
            let done = sqlx::query(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2 AND email = $3",
        )
        .bind(now)
        .bind(user_id)
        .bind(email)
        .execute(pool)
        .await?
        .rows_affected();
            Ok(done == 1)
        })
    }

    /// Deletes what can no longer matter: sessions that ended or expired before `before`, with
    /// their refresh-token chains, and single-use tokens that expired before it. Returns
    /// (sessions, one-time tokens) deleted. A live session keeps its whole chain: a spent refresh
    /// token presented again must still be recognised as reuse (RFC 9700 §4.14.2).
    pub async fn prune_dead_sessions(&self, before: i64) -> Result<(u64, u64), StoreError> {
        with_pool!(self, pool, {
            let mut tx = pool.begin().await?;
            // Their refresh tokens go with them: `refresh_tokens.session_id` is ON DELETE CASCADE.
            let sessions = sqlx::query(
            "DELETE FROM sessions WHERE COALESCE(ended_at, CASE WHEN idle_expires_at < absolute_expires_at THEN idle_expires_at ELSE absolute_expires_at END) < $1",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?
        .rows_affected();
            let one_time = sqlx::query("DELETE FROM one_time_tokens WHERE expires_at < $1")
                .bind(before)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok((sessions, one_time))
        })
    }
}
