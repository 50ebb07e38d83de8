//! Owns `/auth/sessions`: the caller's session list and revoking one of them.
//! Extract -> call `domain::Auth` -> map to response. Must not import sqlx.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiPath, Authenticated, ClientIp};
use crate::domain::sessions::SessionView;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/sessions", get(list))
        .route("/auth/sessions/{id}", delete(revoke))
}

#[derive(Serialize)]
struct SessionsBody {
    sessions: Vec<SessionView>,
}

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
