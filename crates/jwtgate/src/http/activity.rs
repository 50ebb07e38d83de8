//! Owns the audit-log routes: `GET /auth/activity` (the caller's own events) and
//! `GET /api/admin/audit` (every event, administrators only). Same page shape for both:
//! `{events: [...], next_cursor}`, newest first; pass `next_cursor` back as `before`.
//! Must not import sqlx.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::ApiError;
use super::extract::{Admin, Authenticated};
use super::openapi::{AccessToken, AdminRole, Internal, PlanLimit};
use crate::domain::audit::{AuditPage, DEFAULT_PAGE, MAX_PAGE};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(own))
        .routes(routes!(all))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PageQuery {
    /// A `next_cursor` value: the page after it.
    before: Option<String>,
    /// Events a page (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

fn parse(q: Result<Query<PageQuery>, QueryRejection>) -> Result<(Option<i64>, i64), ApiError> {
    let Query(q) =
        q.map_err(|_| ApiError::bad_request("invalid_query", "before and limit must be integers"))?;
    let before = match q.before.as_deref().filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(b.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad_request("invalid_query", "before must be a next_cursor value")
        })?),
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok((before, limit))
}

async fn page(
    state: &AppState,
    user: Option<&str>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    let (before, limit) = parse(q)?;
    let page = state
        .core
        .audit()
        .page(user, before, limit)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(page))
}

/// The caller's own audit events, newest first.
#[utoipa::path(
    get,
    operation_id = "list_own_activity",
    path = "/auth/activity",
    tag = "auth",
    params(PageQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        AccessToken,
        Internal,
    ),
)]
async fn own(
    State(state): State<AppState>,
    Authenticated { claims, .. }: Authenticated,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    page(&state, Some(&claims.sub), q).await
}

/// Administrators only, through the library's role guard: 401 without credentials, 403
/// `insufficient_scope` without the `admin` role.
#[utoipa::path(
    get,
    operation_id = "list_audit_events",
    path = "/api/admin/audit",
    tag = "admin",
    params(PageQuery),
    security(("bearer" = []), ("cookie" = [])),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        AdminRole,
        PlanLimit,
        Internal,
    ),
)]
async fn all(
    State(state): State<AppState>,
    _admin: Admin,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<AuditPage>, ApiError> {
    page(&state, None, q).await
}
