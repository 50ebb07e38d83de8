//! Owns the SQL of administration: listing and searching users, roles, plan, the disabled
//! flag, a user's live sessions and the persisted token cut-offs. `impl Store` only; must not
//! import axum, the domain or jwtgate-verify.

use sqlx::Row;

use super::sessions::end_sessions;
use super::{EndSessions, Store, StoreError, UserRow, user_from_row};

/// The role whose last enabled holder may not be demoted or disabled.
pub const ADMIN_ROLE: &str = "admin";

/// What a change guarded by "an enabled administrator remains" did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guarded<T> {
    Done(T),
    NotFound,
    /// The change would have left no enabled administrator; nothing changed.
    LastAdmin,
}

/// SQL, for the `WHERE` of an UPDATE of `users`: true unless the row is the last enabled
/// administrator (it is no admin, is disabled already, or another enabled admin exists).
macro_rules! leaves_an_admin {
    () => {
        "(NOT EXISTS (SELECT 1 FROM json_each(users.roles) r WHERE r.value = 'admin') \
          OR users.disabled_at IS NOT NULL \
          OR EXISTS (SELECT 1 FROM users o, json_each(o.roles) r \
                     WHERE o.id <> users.id AND o.disabled_at IS NULL AND r.value = 'admin'))"
    };
}

/// A user as an administrator sees it.
#[derive(Debug, Clone)]
pub struct AdminUserRow {
    pub user: UserRow,
    pub disabled_at: Option<i64>,
}

/// The account columns and `disabled_at`, from `users u`.
macro_rules! admin_select {
    () => {
        concat!("SELECT ", user_columns!(), ", u.disabled_at FROM users u")
    };
}

fn admin_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<AdminUserRow, StoreError> {
    Ok(AdminUserRow {
        user: user_from_row(row)?,
        disabled_at: row.try_get("disabled_at")?,
    })
}

impl Store {
    /// One page of users, oldest first, whose email contains `needle` (already lower-cased;
    /// `instr`, not `LIKE`, so `%` and `_` in the search are plain characters). Returns the
    /// page and the total number of matches.
    pub async fn list_users(
        &self,
        needle: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AdminUserRow>, i64), StoreError> {
        let total: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM users WHERE deleted_at IS NULL AND instr(email, ?) > 0",
        )
        .bind(needle)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let rows = sqlx::query(concat!(
            admin_select!(),
            " WHERE deleted_at IS NULL AND instr(email, ?) > 0 ORDER BY created_at, rowid LIMIT ? OFFSET ?"
        ))
        .bind(needle)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let users = rows.iter().map(admin_from_row).collect::<Result<_, _>>()?;
        Ok((users, total))
    }

    pub async fn admin_user(&self, user_id: &str) -> Result<Option<AdminUserRow>, StoreError> {
        let row = sqlx::query(concat!(
            admin_select!(),
            " WHERE id = ? AND deleted_at IS NULL"
        ))
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(admin_from_row).transpose()
    }

    /// Replaces the roles and raises the token cut-off in one statement, unless that would
    /// leave no enabled administrator.
    pub async fn set_roles(
        &self,
        user_id: &str,
        roles: &[String],
        tokens_not_before: i64,
    ) -> Result<Guarded<()>, StoreError> {
        let keeps_admin = roles.iter().any(|r| r == ADMIN_ROLE);
        let roles = serde_json::to_string(roles).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // One statement: SQLite takes its write lock before it evaluates the guard, so two
        // administrators demoting each other at once are serialised and the second sees the
        // first's change.
        let done = sqlx::query(concat!(
            "UPDATE users SET roles = $1, tokens_not_before = max(coalesce(tokens_not_before, 0), $2) \
             WHERE id = $3 AND ($4 OR ",
            leaves_an_admin!(),
            ")"
        ))
        .bind(roles)
        .bind(tokens_not_before)
        .bind(user_id)
        .bind(keeps_admin)
        .execute(&self.pool)
        .await?
        .rows_affected();
        self.guarded(user_id, done, ()).await
    }

    /// Disables the account, raises its token cut-off and ends its sessions (`end`), in one
    /// transaction, unless it is the last enabled administrator. The ended sessions' ids.
    pub async fn disable_user(
        &self,
        end: &EndSessions<'_>,
        tokens_not_before: i64,
    ) -> Result<Guarded<Vec<String>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(concat!(
            "UPDATE users SET disabled_at = coalesce(disabled_at, $1), \
             tokens_not_before = max(coalesce(tokens_not_before, 0), $2) WHERE id = $3 AND ",
            leaves_an_admin!()
        ))
        .bind(end.now)
        .bind(tokens_not_before)
        .bind(end.user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done != 1 {
            tx.rollback().await?;
            return self.guarded(end.user_id, done, Vec::new()).await;
        }
        let ended = end_sessions(&mut tx, end).await?;
        tx.commit().await?;
        Ok(Guarded::Done(ended))
    }

    /// What an UPDATE guarded by `leaves_an_admin!` that changed `done` rows means.
    async fn guarded<T>(
        &self,
        user_id: &str,
        done: u64,
        value: T,
    ) -> Result<Guarded<T>, StoreError> {
        if done == 1 {
            return Ok(Guarded::Done(value));
        }
        Ok(match self.admin_user(user_id).await? {
            Some(_) => Guarded::LastAdmin,
            None => Guarded::NotFound,
        })
    }

    /// Deletes the account, unless it is the last enabled administrator: in one transaction its
    /// sessions end (`end`), its row becomes a tombstone without personal data (no address, no
    /// password, no roles) whose token cut-off refuses every token it had, and its todos and
    /// single-use links go. The ended sessions' ids.
    pub async fn delete_user(
        &self,
        end: &EndSessions<'_>,
        tokens_not_before: i64,
    ) -> Result<Guarded<Vec<String>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(concat!(
            "UPDATE users SET email = 'deleted:' || id, password_hash = '', roles = '[]', \
             plan = NULL, email_verified_at = NULL, deleted_at = $1, \
             disabled_at = coalesce(disabled_at, $1), \
             tokens_not_before = max(coalesce(tokens_not_before, 0), $2) \
             WHERE id = $3 AND deleted_at IS NULL AND ",
            leaves_an_admin!()
        ))
        .bind(end.now)
        .bind(tokens_not_before)
        .bind(end.user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done != 1 {
            tx.rollback().await?;
            return self.guarded(end.user_id, done, Vec::new()).await;
        }
        let ended = end_sessions(&mut tx, end).await?;
        sqlx::query("DELETE FROM todos WHERE user_id = $1")
            .bind(end.user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM one_time_tokens WHERE user_id = $1")
            .bind(end.user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Guarded::Done(ended))
    }

    /// Enables the account. Returns whether the user exists.
    pub async fn enable_user(&self, user_id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Returns whether the user exists.
    pub async fn set_plan(&self, user_id: &str, plan: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET plan = ? WHERE id = ?")
            .bind(plan)
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    pub async fn is_disabled(&self, user_id: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT disabled_at FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
            None => false,
        })
    }

    /// `(user id, tokens_not_before)` for cut-offs at or after `since` (startup rebuild).
    pub async fn user_cutoffs_since(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tokens_not_before FROM users WHERE tokens_not_before IS NOT NULL AND tokens_not_before >= ?",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("tokens_not_before")?)))
            .collect()
    }
}
