//! Owns the SQL of todos. Every read and write of one item is scoped by its owner in the
//! `WHERE` clause, so another user's item is simply not found. `impl Store` only; must not
//! import axum, the domain or jwtgate-verify.

use super::{Columns, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoRow {
    pub id: String,
    pub user_id: String,
    pub title: String,
    pub done: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

fn todo_from_row(row: &impl Columns) -> Result<TodoRow, StoreError> {
    Ok(TodoRow {
        id: row.column("id")?,
        user_id: row.column("user_id")?,
        title: row.column("title")?,
        done: row.column("done")?,
        created_at: row.column("created_at")?,
        updated_at: row.column("updated_at")?,
    })
}

impl Store {
    pub async fn insert_todo(&self, todo: &TodoRow) -> Result<(), StoreError> {
        with_pool!(self, pool, {
            sqlx::query(
            "INSERT INTO todos (id, user_id, title, done, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&todo.id)
        .bind(&todo.user_id)
        .bind(&todo.title)
        .bind(todo.done)
        .bind(todo.created_at)
        .bind(todo.updated_at)
        .execute(pool)
        .await?;
            Ok(())
        })
    }

    /// The owner's items (or everyone's, for `None`) in the order they were made, at most
    /// `limit`.
    pub async fn list_todos(
        &self,
        owner: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TodoRow>, StoreError> {
        with_pool!(self, pool, {
            let rows = sqlx::query(
                "SELECT id, user_id, title, done, created_at, updated_at FROM todos \
             WHERE ($1 IS NULL OR user_id = $1) ORDER BY seq LIMIT $2",
            )
            .bind(owner)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter().map(todo_from_row).collect()
        })
    }

    /// Item `id` if `owner` owns it (any owner for `None`).
    pub async fn todo(&self, id: &str, owner: Option<&str>) -> Result<Option<TodoRow>, StoreError> {
        with_pool!(self, pool, {
            let row = sqlx::query(
                "SELECT id, user_id, title, done, created_at, updated_at FROM todos \
             WHERE id = $1 AND ($2 IS NULL OR user_id = $2)",
            )
            .bind(id)
            .bind(owner)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(todo_from_row).transpose()
        })
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
        with_pool!(self, pool, {
            let row = sqlx::query(
            "UPDATE todos SET title = coalesce($1, title), done = coalesce($2, done), updated_at = $3 \
             WHERE id = $4 AND user_id = $5 \
             RETURNING id, user_id, title, done, created_at, updated_at",
        )
        .bind(title)
        .bind(done)
        .bind(now)
        .bind(id)
        .bind(owner)
        .fetch_optional(pool)
        .await?;
            row.as_ref().map(todo_from_row).transpose()
        })
    }

    /// Returns whether the owner had such an item.
    pub async fn delete_todo(&self, id: &str, owner: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool, {
            let done = sqlx::query("DELETE FROM todos WHERE id = $1 AND user_id = $2")
                .bind(id)
                .bind(owner)
                .execute(pool)
                .await?
                .rows_affected();
            Ok(done == 1)
        })
    }
}
