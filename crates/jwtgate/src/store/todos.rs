//! Owns the SQL of todos. Every read and write of one item is scoped by its owner in the
//! `WHERE` clause, so another user's item is simply not found. `impl Store` only; must not
//! import axum, the domain or jwtgate-verify.

use sqlx::Row;

use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoRow {
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub done: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

fn todo_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<TodoRow, StoreError> {
    Ok(TodoRow {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        title: row.try_get("title")?,
        done: row.try_get("done")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    pub async fn insert_todo(&self, todo: &TodoRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO todos (id, user_id, title, done, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&todo.id)
        .bind(&todo.user_id)
        .bind(&todo.title)
        .bind(todo.done)
        .bind(todo.created_at)
        .bind(todo.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The owner's items (or everyone's, for `None`), oldest first, at most `limit`.
    pub async fn list_todos(
        &self,
        owner: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TodoRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, user_id, title, done, created_at, updated_at FROM todos \
             WHERE (?1 IS NULL OR user_id = ?1) ORDER BY created_at, rowid LIMIT ?2",
        )
        .bind(owner)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(todo_from_row).collect()
    }

    /// Item `id` if `owner` owns it (any owner for `None`).
    pub async fn todo(&self, id: &str, owner: Option<&str>) -> Result<Option<TodoRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, user_id, title, done, created_at, updated_at FROM todos \
             WHERE id = ?1 AND (?2 IS NULL OR user_id = ?2)",
        )
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(todo_from_row).transpose()
    }

    /// Changes the given fields of the owner's item; `None` when there is no such item.
    pub async fn update_todo(
        &self,
        id: &str,
        owner: &str,
        title: Option<&str>,
        done: Option<bool>,
        now: i64,
    ) -> Result<Option<TodoRow>, StoreError> {
        let row = sqlx::query(
            "UPDATE todos SET title = coalesce(?, title), done = coalesce(?, done), updated_at = ? \
             WHERE id = ? AND user_id = ? \
             RETURNING id, user_id, title, done, created_at, updated_at",
        )
        .bind(title)
        .bind(done)
        .bind(now)
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(todo_from_row).transpose()
    }

    /// Returns whether the owner had such an item.
    pub async fn delete_todo(&self, id: &str, owner: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM todos WHERE id = ? AND user_id = ?")
            .bind(id)
            .bind(owner)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }
}
