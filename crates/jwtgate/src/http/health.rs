//! Owns `/healthz` (process alive) and `/readyz` (database reachable, and on PostgreSQL the
//! revocation log followed within its lease). Must not import sqlx.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, Problem};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// A probe's answer.
#[derive(Serialize, utoipa::ToSchema)]
struct Status {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    status: &'static str,
}

/// The process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "`{\"status\":\"ok\"}`", body = Status)),
)]
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

/// The database answers and, on PostgreSQL, this node follows the revocation log.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "`{\"status\":\"ready\"}`", body = Status),
        (status = 503, description = "`not_ready`: the database is not reachable, or the revocation log is not followed", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn readyz(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
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
        Ok(()) => Ok(Json(Status { status: "ready" })),
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
