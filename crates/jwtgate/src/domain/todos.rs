//! Owns the todo rules (the seed tutorial's resource API): items belong to their owner, a title
//! is 1 to 200 characters after trimming, administrators may read everyone's. Must not import
//! axum or sqlx.

use serde::Serialize;

use crate::clock::Clock;
use crate::domain::tokens;
use crate::store::todos::TodoRow;
use crate::store::{Store, StoreError};

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Most items one list answer returns.
pub const MAX_LIST: i64 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum TodoError {
    /// No such item, or not the caller's: the same answer, so ids of others do not leak.
    #[error("no such todo")]
    NotFound,
    #[error("{field}: {detail}")]
    InvalidField { field: &'static str, detail: String },
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for TodoError {
    fn from(e: StoreError) -> Self {
        TodoError::Internal(e.to_string())
    }
}

/// A validated title: trimmed, 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(raw: &str) -> Result<Title, TodoError> {
        let title = raw.trim();
        let chars = title.chars().count();
        if chars == 0 || chars > MAX_TITLE_CHARS {
            return Err(TodoError::InvalidField {
                field: "title",
                detail: format!("title must be 1 to {MAX_TITLE_CHARS} characters"),
            });
        }
        Ok(Title(title.to_owned()))
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Todo {
    pub id: String,
    pub owner_id: String,
    pub title: String,
    pub done: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<TodoRow> for Todo {
    fn from(row: TodoRow) -> Self {
        Todo {
            id: row.id,
            owner_id: row.user_id,
            title: row.title,
            done: row.done,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Whose items a read may see.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    Owner(&'a str),
    /// Administrators reading everyone's.
    Everyone,
}

impl Scope<'_> {
    fn owner(&self) -> Option<&str> {
        match self {
            Scope::Owner(owner) => Some(owner),
            Scope::Everyone => None,
        }
    }
}

/// The todo service: the resource API of the seed tutorial.
#[derive(Debug)]
pub struct Todos {
    store: Store,
    clock: Clock,
}

impl Todos {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    pub async fn list_todos(&self, scope: Scope<'_>) -> Result<Vec<Todo>, TodoError> {
        let rows = self.store.list_todos(scope.owner(), MAX_LIST).await?;
        Ok(rows.into_iter().map(Todo::from).collect())
    }

    pub async fn create_todo(
        &self,
        owner: &str,
        title: Title,
        done: bool,
    ) -> Result<Todo, TodoError> {
        let now = self.clock.now();
        let row = TodoRow {
            id: tokens::uuid_v4(),
            user_id: owner.to_owned(),
            title: title.0,
            done,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_todo(&row).await?;
        Ok(row.into())
    }

    pub async fn get_todo(&self, id: &str, scope: Scope<'_>) -> Result<Todo, TodoError> {
        self.store
            .todo(id, scope.owner())
            .await?
            .map(Todo::from)
            .ok_or(TodoError::NotFound)
    }

    /// Writes are the owner's alone, administrators included.
    pub async fn update_todo(
        &self,
        id: &str,
        owner: &str,
        title: Option<Title>,
        done: Option<bool>,
    ) -> Result<Todo, TodoError> {
        let now = self.clock.now();
        self.store
            .update_todo(id, owner, title.as_ref().map(|t| t.0.as_str()), done, now)
            .await?
            .map(Todo::from)
            .ok_or(TodoError::NotFound)
    }

    pub async fn delete_todo(&self, id: &str, owner: &str) -> Result<(), TodoError> {
        if self.store.delete_todo(id, owner).await? {
            Ok(())
        } else {
            Err(TodoError::NotFound)
        }
    }
}
