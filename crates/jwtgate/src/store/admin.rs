//! Owns the SQL of administration: listing and searching users, roles, plan, the disabled
//! flag, a user's live sessions and the persisted token cut-offs. `impl Store` only; must not
//! import axum, the domain or jwtgate-verify.

use sqlx::Row;

use super::{Store, StoreError, UserRow, user_from_row};

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
        let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE instr(email, ?) > 0")
            .bind(needle)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let rows = sqlx::query(concat!(
            admin_select!(),
            " WHERE instr(email, ?) > 0 ORDER BY created_at, rowid LIMIT ? OFFSET ?"
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
        let row = sqlx::query(concat!(admin_select!(), " WHERE id = ?"))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(admin_from_row).transpose()
    }

    /// Replaces the roles and records the token cut-off in one statement. Returns whether the
    /// user exists.
    pub async fn set_roles(
        &self,
        user_id: &str,
        roles: &[String],
        tokens_not_before: i64,
    ) -> Result<bool, StoreError> {
        let roles = serde_json::to_string(roles).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let done = sqlx::query(
            "UPDATE users SET roles = ?, tokens_not_before = max(coalesce(tokens_not_before, 0), ?) WHERE id = ?",
        )
        .bind(roles)
        .bind(tokens_not_before)
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

    /// Sets (`Some(now)`) or clears the disabled flag. Returns whether the user exists.
    pub async fn set_disabled(
        &self,
        user_id: &str,
        disabled_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE users SET disabled_at = ? WHERE id = ?")
            .bind(disabled_at)
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

    /// Ids of the user's sessions that have not ended.
    pub async fn live_session_ids(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM sessions WHERE user_id = ? AND ended_at IS NULL")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(StoreError::from))
            .collect()
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
