//! Owns `/auth/sessions`: the caller's session list and revoking one of them.
//! Extract -> call `domain::Auth` -> map to response. Must not import sqlx.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, Problem};
use super::extract::{ApiPath, Authenticated, ClientIp};
use super::openapi::{AccessToken, Internal};
use crate::domain::sessions::SessionView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(revoke))
}

#[derive(Serialize, utoipa::ToSchema)]
struct SessionsBody {
    sessions: Vec<SessionView>,
}

/// The caller's live sessions.
#[utoipa::path(
    get,
    operation_id = "list_sessions",
    path = "/auth/sessions",
    tag = "auth",
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "The caller's sessions", body = SessionsBody),
        AccessToken,
        Internal,
    ),
)]
async fn list(
    State(state): State<AppState>,
    Authenticated { claims, .. }: Authenticated,
) -> Result<Json<SessionsBody>, ApiError> {
    let sessions = state
        .sessions
        .list(&claims.sub, claims.sid.as_deref())
        .await?;
    Ok(Json(SessionsBody { sessions }))
}

/// 204; 404 `not_found` for a session that is not the caller's (or no longer live).
#[utoipa::path(
    delete,
    operation_id = "revoke_session",
    path = "/auth/sessions/{id}",
    tag = "auth",
    params(("id" = String, Path, description = "A session id from the list")),
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "The session has ended"),
        AccessToken,
        Internal,
        (status = 404, description = "`not_found`: no such live session of the caller's", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn revoke(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Authenticated { claims, .. }: Authenticated,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    state
        .sessions
        .revoke_own(&claims.sub, &id, claims.sid.as_deref(), &ip)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
