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
        sqlx::query(
            "INSERT INTO one_time_tokens (jti_hash, purpose, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(jti_hash)
        .bind(purpose)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
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
        let done = sqlx::query(
            "UPDATE one_time_tokens SET used_at = ? \
             WHERE jti_hash = ? AND purpose = ? AND user_id = ? AND used_at IS NULL",
        )
        .bind(now)
        .bind(jti_hash)
        .bind(purpose)
        .bind(user_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if done == 1 {
            return Ok(Consumed::Now);
        }
        self.why_not_consumed(jti_hash, purpose, user_id).await
    }

    /// For a token that could not be consumed: whether it was used before or never existed.
    pub async fn why_not_consumed(
        &self,
        jti_hash: &[u8],
        purpose: &str,
        user_id: &str,
    ) -> Result<Consumed, StoreError> {
        let row = sqlx::query(
            "SELECT used_at FROM one_time_tokens WHERE jti_hash = ? AND purpose = ? AND user_id = ?",
        )
        .bind(jti_hash)
        .bind(purpose)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) if r.try_get::<Option<i64>, _>("used_at")?.is_some() => Consumed::AlreadyUsed,
            _ => Consumed::Unknown,
        })
    }
}
