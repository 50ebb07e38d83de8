//! Owns `/api/me`: the caller's profile read from the verified token alone (no database read).
//! Must not import sqlx or the store.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::extract::Authenticated;
use super::openapi::{AccessToken, PlanLimit};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// The caller, from its access token's claims.
// Borrows from the verified claims: the response is written straight from them, with no
// per-request copies of the strings.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Me)]
struct Me<'a> {
    /// The subject, as OpenID Connect's userinfo names it (the discovery document points its
    /// `userinfo_endpoint` here); the same as `id`.
    sub: &'a str,
    id: &'a str,
    email: Option<&'a str>,
    email_verified: Option<bool>,
    roles: &'a [String],
    plan: Option<&'a str>,
    session_id: Option<&'a str>,
    expires_at: i64,
}

/// The caller, as its access token says.
#[utoipa::path(
    get,
    path = "/api/me",
    tag = "api",
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The caller", body = Me), AccessToken, PlanLimit),
)]
async fn me(Authenticated { claims, .. }: Authenticated) -> Response {
    Json(Me {
        sub: &claims.sub,
        id: &claims.sub,
        email: claims.email.as_deref(),
        email_verified: claims.email_verified,
        roles: &claims.roles,
        plan: claims.plan.as_deref(),
        session_id: claims.sid.as_deref(),
        expires_at: claims.exp,
    })
    .into_response()
}
