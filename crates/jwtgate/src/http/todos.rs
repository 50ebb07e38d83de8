//! Owns `/api/todos`: list, create, show, update and delete the caller's items; administrators
//! may list everyone's with `?all=true`. Another user's item is 404 `not_found`, never 403, so
//! ids of others' items cannot be probed. Must not import sqlx.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jwtgate_verify::axum::RejectionKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, ApiPath, Authenticated};
use super::openapi::{AccessToken, Internal, JsonBody, PlanLimit};
use crate::domain::admin::ADMIN_ROLE;
use crate::domain::todos::{Scope, Title, Todo, TodoError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Everyone's items (administrators only).
    #[serde(default)]
    all: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TodoList {
    todos: Vec<Todo>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TodoBody {
    todo: Todo,
}

/// The caller's items (`all=true`: everyone's, administrators only).
#[utoipa::path(
    get,
    operation_id = "list_todos",
    path = "/api/todos",
    tag = "api",
    params(ListQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The items", body = TodoList),
        AccessToken,
        PlanLimit,
        Internal,
        (status = 403, description = "`insufficient_scope` (`all` without the `admin` role)", body = Problem, content_type = "application/problem+json"),
    ),
)]
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

/// A new item.
// The handlers read their bodies field by field (see `title_field`); this type and the next
// describe what they read.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes the body `create` reads")]
struct NewTodo {
    /// 1 to 200 characters, not blank.
    #[schema(min_length = 1)]
    title: String,
    /// `false` unless given.
    done: Option<bool>,
}

/// A change to an item: the fields given change.
#[derive(utoipa::ToSchema)]
#[expect(dead_code, reason = "describes the body `update` reads")]
struct TodoChange {
    /// 1 to 200 characters, not blank.
    #[schema(min_length = 1)]
    title: Option<String>,
    done: Option<bool>,
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

#[utoipa::path(
    post,
    operation_id = "create_todo",
    path = "/api/todos",
    tag = "api",
    request_body = NewTodo,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 201, description = "The new item (and its `Location`)", body = TodoBody, headers(("Location" = String, description = "The item's URL"))),
        JsonBody,
        AccessToken,
        PlanLimit,
        Internal,
        (status = 400, description = "`invalid_json` (not a JSON object), `bad_request`, `invalid_request`, `invalid_path`", body = Problem, content_type = "application/problem+json"),
    ),
)]
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

/// One item (administrators may read anyone's).
#[utoipa::path(
    get,
    operation_id = "show_todo",
    path = "/api/todos/{id}",
    tag = "api",
    params(("id" = String, Path, description = "A todo id")),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The item", body = TodoBody),
        AccessToken,
        PlanLimit,
        Internal,
        (status = 404, description = "`not_found`: no such todo of the caller's", body = Problem, content_type = "application/problem+json"),
    ),
)]
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

#[utoipa::path(
    patch,
    operation_id = "update_todo",
    path = "/api/todos/{id}",
    tag = "api",
    params(("id" = String, Path, description = "A todo id")),
    request_body = TodoChange,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "The item", body = TodoBody),
        JsonBody,
        AccessToken,
        PlanLimit,
        Internal,
        (status = 404, description = "`not_found`: no such todo of the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "`invalid_json` (not a JSON object), `bad_request`, `invalid_request`, `invalid_path`", body = Problem, content_type = "application/problem+json"),
    ),
)]
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

#[utoipa::path(
    delete,
    operation_id = "delete_todo",
    path = "/api/todos/{id}",
    tag = "api",
    params(("id" = String, Path, description = "A todo id")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "Deleted"),
        AccessToken,
        PlanLimit,
        Internal,
        (status = 404, description = "`not_found`: no such todo of the caller's", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    caller: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.todos.delete_todo(&id, &caller.claims.sub).await?;
    Ok(StatusCode::NO_CONTENT)
}
