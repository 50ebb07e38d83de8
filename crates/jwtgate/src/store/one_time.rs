//! Store methods for single-use email tokens (reset, verify-email): only the SHA-256 of a
//! token's `jti` is kept. Only SQL; must not import axum, the domain or jwtgate-verify.

use sqlx::Row;

use super::{Store, StoreError};

/// The outcome of trying to consume a single-use token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// This call used it (exactly one caller ever gets this).
    Now,
    /// It had been used before.
    AlreadyUsed,
    /// No such token of this purpose for this user.
    Unknown,
}

impl Store {
    pub async fn insert_one_time(
        &self,
        jti_hash: &[u8],
        purpose: &str,
        user_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool, {
            sqlx::query(
            "INSERT INTO one_time_tokens (jti_hash, purpose, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(jti_hash)
        .bind(purpose)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await?;
            Ok(())
        })
    }

    /// Marks the token used in one atomic `UPDATE ... WHERE used_at IS NULL`: two concurrent
    /// presentations cannot both win.
    pub async fn consume_one_time(
        &self,
        jti_hash: &[u8],
        purpose: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Consumed, StoreError> {
        with_pool!(self, pool, {
            let done = spend_link!(pool, now, jti_hash, purpose, user_id);
            if done == 1 {
                return Ok(Consumed::Now);
            }
            self.why_not_consumed(jti_hash, purpose, user_id).await
        })
    }

    /// For a token that could not be consumed: whether it was used before or never existed.
    pub async fn why_not_consumed(
        &self,
        jti_hash: &[u8],
        purpose: &str,
        user_id: &str,
    ) -> Result<Consumed, StoreError> {
        with_pool!(self, pool, {
            let row = sqlx::query(
            "SELECT used_at FROM one_time_tokens WHERE jti_hash = $1 AND purpose = $2 AND user_id = $3",
        )
        .bind(jti_hash)
        .bind(purpose)
        .bind(user_id)
        .fetch_optional(pool)
        .await?;
            Ok(match row {
                Some(r) if r.try_get::<Option<i64>, _>("used_at")?.is_some() => {
                    Consumed::AlreadyUsed
                }
                _ => Consumed::Unknown,
            })
        })
    }
}
