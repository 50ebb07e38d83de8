//! Owns the per-plan rate limit of `/api/*`: after authentication, keyed by `sub`, sized by the
//! token's `plan` claim alone (no database read), and the `RateLimit-Policy` / `RateLimit`
//! headers of draft-ietf-httpapi-ratelimit-headers on every limited response. Must not import
//! sqlx.
//!
//! The token is verified here by `jwtgate-verify`'s extractor, which keeps its verdict in the
//! request extensions: the handler's own extractor reuses it, so `/api/me` still verifies once.
//! Requests without a valid token pass through unlimited: the handler refuses them anyway.

use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::shared::limits::Decision;

/// What the plan limit says of a request.
pub enum Verdict {
    /// Not limited: not `/api/*`, no valid token (the handler refuses it), a plan without a
    /// limit, or limits off.
    Unlimited,
    /// Within the limit: serve it, and add these headers to the answer.
    Allowed(HeaderMap),
    /// Over the limit: send this instead of serving it.
    Refused(Response),
}

/// The plan limit's verdict on `request`, a request to `/api/*` (the outermost layer,
/// `http::edge`, sends only those here).
pub async fn check(state: &AppState, request: Request) -> (Request, Verdict) {
    let Some(limiter) = state.limits.as_deref() else {
        return (request, Verdict::Unlimited);
    };
    let (mut parts, body) = request.into_parts();
    let verified =
        <jwtgate_verify::axum::Authenticated as FromRequestParts<AppState>>::from_request_parts(
            &mut parts, state,
        )
        .await;
    let request = Request::from_parts(parts, body);
    let Ok(verified) = verified else {
        return (request, Verdict::Unlimited);
    };
    let Some(decision) = limiter.check(&verified.claims) else {
        return (request, Verdict::Unlimited);
    };
    let headers = headers(&decision);
    if decision.allowed {
        return (request, Verdict::Allowed(headers));
    }
    let mut refusal = ApiError::RetryLater {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: "rate_limited",
        detail: format!(
            "the {} plan allows {} requests a minute; retry in {} seconds",
            decision.plan, decision.per_minute, decision.reset_secs
        ),
        retry_after_secs: i64::try_from(decision.reset_secs).unwrap_or(i64::MAX),
    }
    .into_response();
    refusal.headers_mut().extend(headers);
    (request, Verdict::Refused(refusal))
}

fn headers(d: &Decision) -> HeaderMap {
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
