//! Owns the per-plan rate limit of `/api/*`: after authentication, keyed by `sub`, sized by the
//! token's `plan` claim alone (no database read), and the `RateLimit-Policy` / `RateLimit`
//! headers of draft-ietf-httpapi-ratelimit-headers on every limited response. Must not import
//! sqlx.
//!
//! The token is verified here by `jwtgate-verify`'s extractor, which keeps its verdict in the
//! request extensions: the handler's own extractor reuses it, so `/api/me` still verifies once.
//! Requests without a valid token pass through unlimited: the handler refuses them anyway.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::shared::limits::Decision;

pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(limiter) = state.limits.as_ref().map(Arc::clone) else {
        return next.run(request).await;
    };
    if !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let verified =
        <jwtgate_verify::axum::Authenticated as FromRequestParts<AppState>>::from_request_parts(
            &mut parts, &state,
        )
        .await;
    let request = Request::from_parts(parts, body);
    let Ok(verified) = verified else {
        return next.run(request).await;
    };
    let Some(decision) = limiter.check(&verified.claims) else {
        return next.run(request).await;
    };
    let headers = headers(&decision);
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        ApiError::RetryLater {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "rate_limited",
            detail: format!(
                "the {} plan allows {} requests a minute; retry in {} seconds",
                decision.plan, decision.per_minute, decision.reset_secs
            ),
            retry_after_secs: i64::try_from(decision.reset_secs).unwrap_or(i64::MAX),
        }
        .into_response()
    };
    response.headers_mut().extend(headers);
    response
}

fn headers(d: &Decision<'_>) -> HeaderMap {
    let mut map = HeaderMap::new();
    // Plan names are ^[a-z][a-z0-9_-]*$ (validated in config), safe inside an sf-string.
    let policy = format!("\"{}\";q={};w=60", d.plan, d.per_minute);
    let current = format!("\"{}\";r={};t={}", d.plan, d.remaining, d.reset_secs);
    if let Ok(v) = HeaderValue::from_str(&policy) {
        map.insert("ratelimit-policy", v);
    }
    if let Ok(v) = HeaderValue::from_str(&current) {
        map.insert("ratelimit", v);
    }
    map
}
