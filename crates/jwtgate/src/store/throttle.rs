//! Store methods for the shared login throttle (`login_throttle`, PostgreSQL: nodes sharing a
//! database count failures together). Only SQL; the counting rule is `shared::throttle`'s. Must
//! not import axum, the domain or jwtgate-verify.

use super::{Columns, Pool, Store, StoreError};

/// One key's counter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThrottleRow {
    pub failures: i32,
    pub last_failure: i64,
    pub locked_until: i64,
}

impl Store {
    /// When each of `keys` is locked until (0: never locked, or no row).
    pub async fn throttle_locked_until(&self, keys: &[&str]) -> Result<Vec<i64>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(vec![0; keys.len()]);
        };
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let row = sqlx::query("SELECT locked_until FROM login_throttle WHERE key = $1")
                .bind(key)
                .fetch_optional(pool)
                .await?;
            out.push(match row {
                Some(row) => row.column("locked_until")?,
                None => 0,
            });
        }
        Ok(out)
    }

    /// Replaces `key`'s counter with what `step` makes of it, the row locked meanwhile, so two
    /// nodes counting one failure each at once count two.
    pub async fn throttle_update(
        &self,
        key: &str,
        step: impl FnOnce(ThrottleRow) -> ThrottleRow,
    ) -> Result<(), StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(());
        };
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO login_throttle (key, failures, last_failure, locked_until) \
             VALUES ($1, 0, 0, 0) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT failures, last_failure, locked_until FROM login_throttle WHERE key = $1 \
             FOR UPDATE",
        )
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        let next = step(ThrottleRow {
            failures: row.column("failures")?,
            last_failure: row.column("last_failure")?,
            locked_until: row.column("locked_until")?,
        });
        sqlx::query(
            "UPDATE login_throttle SET failures = $2, last_failure = $3, locked_until = $4 \
             WHERE key = $1",
        )
        .bind(key)
        .bind(next.failures)
        .bind(next.last_failure)
        .bind(next.locked_until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets `key`'s counter (a success).
    pub async fn throttle_clear(&self, key: &str) -> Result<(), StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(());
        };
        sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(key)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Deletes counters quiet since before `before` (their last failure and lockout).
    pub async fn throttle_prune(&self, before: i64) -> Result<u64, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(0);
        };
        Ok(
            sqlx::query("DELETE FROM login_throttle WHERE last_failure < $1 AND locked_until < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected(),
        )
    }
}
