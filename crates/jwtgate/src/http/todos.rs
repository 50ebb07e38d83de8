//! Owns `/api/todos`: list, create, show, update and delete the caller's items; administrators
//! may list everyone's with `?all=true`. Another user's item is 404 `not_found`, never 403, so
//! ids of others' items cannot be probed. Must not import sqlx.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jwtgate_verify::axum::RejectionKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, Authenticated};
use crate::domain::admin::ADMIN_ROLE;
use crate::domain::todos::{Scope, Title, Todo, TodoError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/todos", get(list).post(create))
        .route("/api/todos/{id}", get(show).patch(update).delete(remove))
}

impl From<TodoError> for ApiError {
    fn from(e: TodoError) -> Self {
        match e {
            TodoError::NotFound => {
                ApiError::client(StatusCode::NOT_FOUND, "not_found", "no such todo")
            }
            TodoError::InvalidField { field, detail } => ApiError::InvalidField { field, detail },
            TodoError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    all: bool,
}

#[derive(Serialize)]
struct TodoList {
    todos: Vec<Todo>,
}

#[derive(Serialize)]
struct TodoBody {
    todo: Todo,
}

async fn list(
    State(state): State<AppState>,
    caller: Authenticated,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<TodoList>, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::bad_request("invalid_query", "all must be true or false"))?;
    let scope = if query.all {
        if !caller.claims.has_role(ADMIN_ROLE) {
            // The library's own 403, challenge header included.
            return Err(state
                .access
                .reject(RejectionKind::InsufficientScope(ADMIN_ROLE.into()))
                .into());
        }
        Scope::Everyone
    } else {
        Scope::Owner(&caller.claims.sub)
    };
    let todos = state.todos.list_todos(scope).await?;
    Ok(Json(TodoList { todos }))
}

/// Bodies are read field by field so that every validation error names its field, including
/// a wrong JSON type (serde's own message would not).
fn title_field(body: &Value) -> Result<Option<Title>, ApiError> {
    match body.get("title") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) => Ok(Some(Title::parse(raw)?)),
        Some(_) => Err(ApiError::InvalidField {
            field: "title",
            detail: "title must be a string".into(),
        }),
    }
}

fn done_field(body: &Value) -> Result<Option<bool>, ApiError> {
    match body.get("done") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(done)) => Ok(Some(*done)),
        Some(_) => Err(ApiError::InvalidField {
            field: "done",
            detail: "done must be true or false".into(),
        }),
    }
}

fn object(body: &Value) -> Result<(), ApiError> {
    if body.is_object() {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_json",
            "the request body must be a JSON object",
        ))
    }
}

async fn create(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    object(&body)?;
    let title = title_field(&body)?.ok_or(ApiError::InvalidField {
        field: "title",
        detail: "title is required".into(),
    })?;
    let done = done_field(&body)?.unwrap_or(false);
    let todo = state
        .todos
        .create_todo(&caller.claims.sub, title, done)
        .await?;
    let location = HeaderValue::from_str(&format!("/api/todos/{}", todo.id)).ok();
    let mut response = (StatusCode::CREATED, Json(TodoBody { todo })).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

async fn show(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TodoBody>, ApiError> {
    // Administrators may read any item; everyone else only their own.
    let scope = if caller.claims.has_role(ADMIN_ROLE) {
        Scope::Everyone
    } else {
        Scope::Owner(&caller.claims.sub)
    };
    let todo = state.todos.get_todo(&id, scope).await?;
    Ok(Json(TodoBody { todo }))
}

async fn update(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<TodoBody>, ApiError> {
    object(&body)?;
    let title = title_field(&body)?;
    let done = done_field(&body)?;
    let todo = state
        .todos
        .update_todo(&id, &caller.claims.sub, title, done)
        .await?;
    Ok(Json(TodoBody { todo }))
}

async fn remove(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.todos.delete_todo(&id, &caller.claims.sub).await?;
    Ok(StatusCode::NO_CONTENT)
}
