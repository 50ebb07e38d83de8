//! Owns the SQL of administration: listing and searching users, roles, plan, the disabled
//! flag, a user's live sessions and the persisted token cut-offs. `impl Store` only; must not
//! import axum, the domain or jwtgate-verify.

use sqlx::Row;

use super::{Columns, EndSessions, Store, StoreError, UserRow, locks, user_from_row};

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
/// `roles` is the JSON array the store writes from validated names (`^[a-z][a-z0-9_-]*$`), so
/// `"admin"` with its quotes appears in it exactly when the role is held, on either backend.
macro_rules! leaves_an_admin {
    () => {
        "(users.roles NOT LIKE '%\"admin\"%' \
          OR users.disabled_at IS NOT NULL \
          OR EXISTS (SELECT 1 FROM users o WHERE o.id <> users.id \
                     AND o.disabled_at IS NULL AND o.roles LIKE '%\"admin\"%'))"
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

fn admin_from_row(row: &impl Columns) -> Result<AdminUserRow, StoreError> {
    Ok(AdminUserRow {
        user: user_from_row(row)?,
        disabled_at: row.column("disabled_at")?,
    })
}

impl Store {
    /// One page of users in the order they were made (`seq`: two made in one second keep
    /// it), whose email contains `needle` (already lower-cased; `%`, `_` and `\` in it are
    /// escaped, so they are plain characters). Returns the page and the total number of
    /// matches.
    pub async fn list_users(
        &self,
        needle: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<AdminUserRow>, i64), StoreError> {
        let pattern = format!(
            "%{}%",
            needle
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        with_pool!(self, pool, {
            let total: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM users WHERE deleted_at IS NULL AND email LIKE $1 ESCAPE '\\'",
        )
        .bind(&pattern)
        .fetch_one(pool)
        .await?
        .try_get("n")?;
            let rows = sqlx::query(concat!(
            admin_select!(),
            " WHERE deleted_at IS NULL AND email LIKE $1 ESCAPE '\\' ORDER BY seq LIMIT $2 OFFSET $3"
        ))
        .bind(&pattern)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?;
            let users = rows.iter().map(admin_from_row).collect::<Result<_, _>>()?;
            Ok((users, total))
        })
    }

    pub async fn admin_user(&self, user_id: &str) -> Result<Option<AdminUserRow>, StoreError> {
        with_pool!(self, pool, {
            let row = sqlx::query(concat!(
                admin_select!(),
                " WHERE id = $1 AND deleted_at IS NULL"
            ))
            .bind(user_id)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(admin_from_row).transpose()
        })
    }

    /// Replaces the roles and raises the token cut-off in one statement, unless that would
    /// leave no enabled administrator.
    pub async fn set_roles(
        &self,
        user_id: &str,
        roles: &[String],
        tokens_not_before: i64,
    ) -> Result<Guarded<()>, StoreError> {
        with_pool!(self, pool, {
            let keeps_admin = roles.iter().any(|r| r == ADMIN_ROLE);
            let roles =
                serde_json::to_string(roles).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            // SQLite takes its write lock before it evaluates the guard, and PostgreSQL waits for
            // the guard's lock, so two administrators demoting each other at once are serialised
            // and the second sees the first's change.
            let mut tx = pool.begin().await?;
            lock!(self, tx, locks::ADMINS, "");
            let done = sqlx::query(concat!(
            "UPDATE users SET roles = $1, tokens_not_before = CASE WHEN coalesce(tokens_not_before, 0) > $2 THEN tokens_not_before ELSE $2 END \
             WHERE id = $3 AND ($4 OR ",
            leaves_an_admin!(),
            ")"
        ))
        .bind(roles)
        .bind(tokens_not_before)
        .bind(user_id)
        .bind(keeps_admin)
        .execute(&mut *tx)
        .await?
        .rows_affected();
            tx.commit().await?;
            self.guarded(user_id, done, ()).await
        })
    }

    /// Disables the account, raises its token cut-off and ends its sessions (`end`), in one
    /// transaction, unless it is the last enabled administrator. The ended sessions' ids.
    pub async fn disable_user(
        &self,
        end: &EndSessions<'_>,
        tokens_not_before: i64,
    ) -> Result<Guarded<Vec<String>>, StoreError> {
        with_pool!(self, pool, {
            let mut tx = pool.begin().await?;
            lock!(self, tx, locks::ADMINS, "");
            let done = sqlx::query(concat!(
            "UPDATE users SET disabled_at = coalesce(disabled_at, $1), \
             tokens_not_before = CASE WHEN coalesce(tokens_not_before, 0) > $2 THEN tokens_not_before ELSE $2 END WHERE id = $3 AND ",
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
            let ended = end_sessions!(tx, end);
            tx.commit().await?;
            Ok(Guarded::Done(ended))
        })
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
        with_pool!(self, pool, {
            let mut tx = pool.begin().await?;
            lock!(self, tx, locks::ADMINS, "");
            let done = sqlx::query(concat!(
            "UPDATE users SET email = 'deleted:' || id, password_hash = '', roles = '[]', \
             plan = NULL, email_verified_at = NULL, deleted_at = $1, \
             disabled_at = coalesce(disabled_at, $1), \
             tokens_not_before = CASE WHEN coalesce(tokens_not_before, 0) > $2 THEN tokens_not_before ELSE $2 END \
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
            let ended = end_sessions!(tx, end);
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
        })
    }

    /// Enables the account. Returns whether the user exists.
    pub async fn enable_user(&self, user_id: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool, {
            let done = sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
                .bind(user_id)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(done == 1)
        })
    }

    /// Returns whether the user exists.
    pub async fn set_plan(&self, user_id: &str, plan: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool, {
            let done = sqlx::query("UPDATE users SET plan = $1 WHERE id = $2")
                .bind(plan)
                .bind(user_id)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(done == 1)
        })
    }

    pub async fn is_disabled(&self, user_id: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool, {
            let row = sqlx::query("SELECT disabled_at FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(row) => row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
                None => false,
            })
        })
    }

    /// `(user id, tokens_not_before)` for cut-offs at or after `since` (startup rebuild).
    pub async fn user_cutoffs_since(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        with_pool!(self, pool, {
            let rows = sqlx::query(
            "SELECT id, tokens_not_before FROM users WHERE tokens_not_before IS NOT NULL AND tokens_not_before >= $1",
        )
        .bind(since)
        .fetch_all(pool)
        .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("tokens_not_before")?)))
                .collect()
        })
    }
}
