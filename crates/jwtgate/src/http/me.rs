//! Owns `/api/me`: the caller's profile read from the verified token alone (no database read).
//! Must not import sqlx or the store.

use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
use super::extract::Authenticated;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/me", get(me))
}

/// Borrows from the verified claims: the response is written straight from them, with no
/// per-request copies of the strings.
#[derive(Serialize)]
struct Me<'a> {
    id: &'a str,
    email: Option<&'a str>,
    email_verified: Option<bool>,
    roles: &'a [String],
    plan: Option<&'a str>,
    session_id: Option<&'a str>,
    expires_at: i64,
}

async fn me(Authenticated { claims, .. }: Authenticated) -> Response {
    Json(Me {
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
