//! Owns `/healthz` (process alive) and `/readyz` (database reachable, and on PostgreSQL the
//! revocation log followed within its lease). Must not import sqlx.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> impl IntoResponse {
    // A constant body: no JSON value built and serialised per probe (same bytes as `json!`).
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        r#"{"status":"ok"}"#,
    )
}

async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if !state.core.revocations().is_fresh() {
        // Tokens are refused here (503 `revocation_view_stale`): a load balancer should send
        // requests elsewhere until this node follows the revocation log again.
        return Err(ApiError::client(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "this node cannot read the revocation log",
        ));
    }
    match state.core.ready().await {
        Ok(()) => Ok(Json(json!({"status": "ready"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::client(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the database is not reachable",
            ))
        }
    }
}
