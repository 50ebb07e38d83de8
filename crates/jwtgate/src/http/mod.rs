//! Owns the HTTP surface: `AppState`, the router (one per resource), the body limit, security
//! headers and fallbacks. axum lives only here. Must not import sqlx.

pub mod activity;
pub mod admin;
pub mod auth;
pub mod cookies;
pub mod error;
pub mod extract;
pub mod health;
pub mod me;
pub mod password;
pub mod ratelimit;
pub mod serve;
pub mod sessions;
pub mod todos;
pub mod web;
pub mod wellknown;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRef, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use jwtgate_verify::axum::Auth as AccessAuth;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::config::{Cidr, Settings};
use crate::domain::accounts::Accounts;
use crate::domain::admin::Admin;
use crate::domain::core::Core;
use crate::domain::sessions::Sessions;
use crate::domain::todos::Todos;
use crate::shared::limits::PlanLimiter;
use crate::shared::tarpit::Tarpit;
use crate::shared::throttle::LoginThrottle;
use error::{ApiError, Refused};

/// Request bodies above this answer 413 `payload_too_large`.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Everything a handler may use. Cheap to clone (Arcs inside); no globals.
#[derive(Clone, Debug)]
pub struct AppState {
    /// What every service shares: the store, the clock, keys, revocations, CSRF tokens.
    pub core: Arc<Core>,
    /// Sign-in, refresh, sign-out, the session list.
    pub sessions: Arc<Sessions>,
    /// Registration, passwords, addresses, deletion (and their mail).
    pub accounts: Arc<Accounts>,
    pub admin: Arc<Admin>,
    pub todos: Arc<Todos>,
    /// This node's login throttle (pruned by the sweeper).
    pub throttle: Arc<LoginThrottle>,
    pub settings: Arc<Settings>,
    /// `jwtgate-verify`'s extractor configuration: the server's verifier, the access cookie,
    /// realm `jwtgate` and the injected clock. The server dogfoods the library's extractor.
    pub access: Arc<AccessAuth>,
    /// The per-plan limiter of `/api/*`; `None` when `rate_limits = "off"`.
    pub limits: Option<Arc<PlanLimiter>>,
}

impl FromRef<AppState> for Arc<AccessAuth> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.access)
    }
}

pub fn router(state: AppState) -> Router {
    let router = Router::new()
        .merge(auth::router())
        .merge(me::router())
        .merge(admin::router())
        .merge(todos::router())
        .merge(sessions::router())
        .merge(password::router())
        .merge(activity::router())
        .merge(wellknown::router())
        .merge(health::router())
        .merge(web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // One layer for what every request passes through (each `from_fn` layer costs a boxed
        // service and future per request), its state behind one `Arc`.
        .layer(middleware::from_fn_with_state(
            Arc::new(Edge::new(state.clone())),
            edge,
        ));
    // TraceLayer's spans and events are DEBUG: below that it only reads the clock twice and wraps
    // every body (~2% of a /healthz request's CPU in perf), so it is added only when it would log.
    // 5xx answers are logged by `ApiError::internal` with their request id either way.
    let router = if tracing::enabled!(target: "tower_http::trace", tracing::Level::DEBUG) {
        router.layer(TraceLayer::new_for_http())
    } else {
        router
    };
    // Only when some origin is allowed: otherwise there is nothing to answer a preflight with,
    // and no request pays for the check.
    let router = match cors(&state.settings.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.with_state(state)
}

/// Cross-origin access for the listed origins alone: exact matches, credentials allowed (the
/// cookie transport needs them), the headers a client sends and reads. Any other origin gets no
/// CORS header at all, so its page cannot read an answer.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static(extract::CSRF_HEADER),
            ])
            .expose_headers([
                header::RETRY_AFTER,
                header::WWW_AUTHENTICATE,
                header::LOCATION,
                HeaderName::from_static("ratelimit"),
                HeaderName::from_static("ratelimit-policy"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

async fn not_found() -> ApiError {
    ApiError::client(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::client(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}

/// The net under every error: a 4xx or 5xx that is not problem+json (the rejection of an
/// extractor we do not wrap, a layer's own answer) is rewritten as one, headers kept, so a
/// client only ever parses one shape of error.
fn problem_only(response: Response) -> Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    if !is_error || is_problem {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let (problem, body) = ApiError::for_status(status).into_response().into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(problem.headers);
    Response::from_parts(parts, body)
}

/// What the outermost layer needs: the application (for the plan limit), the refusal tarpit
/// and how to tell the client's address.
#[derive(Debug)]
struct Edge {
    app: AppState,
    tarpit: Tarpit,
    trust_proxy_headers: bool,
    trusted_proxies: Vec<Cidr>,
}

impl Edge {
    fn new(app: AppState) -> Self {
        let settings = Arc::clone(&app.settings);
        Self {
            app,
            tarpit: Tarpit::new(Duration::from_millis(settings.refusal_delay_max_ms)),
            trust_proxy_headers: settings.trust_proxy_headers,
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }
}

/// Every request comes in and every answer leaves through here: the per-plan limit of
/// `/api/*` (`ratelimit`), then problem+json for every error, the security headers, and a
/// refusal held for as long as the tarpit says its address has earned.
async fn edge(State(edge): State<Arc<Edge>>, request: Request, next: Next) -> Response {
    let is_auth = request.uri().path().starts_with("/auth/");
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    // Kept only when they could name the client (the values are reference-counted).
    let forwarded: Vec<HeaderValue> = if edge.trust_proxy_headers {
        request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let response = match ratelimit::check(&edge.app, request).await {
        (request, ratelimit::Verdict::Unlimited) => next.run(request).await,
        (request, ratelimit::Verdict::Allowed(limit)) => {
            let mut response = next.run(request).await;
            response.headers_mut().extend(limit);
            response
        }
        (_, ratelimit::Verdict::Refused(refusal)) => refusal,
    };
    let response = security_headers(problem_only(response), is_auth);
    if response.extensions().get::<Refused>().is_some()
        && let Some(peer) = peer
    {
        let client = if edge.trust_proxy_headers {
            let values = forwarded.iter().map(|v| v.to_str().unwrap_or("\u{fffd}"));
            extract::client_ip(peer, values, &edge.trusted_proxies)
        } else {
            peer.to_canonical()
        };
        let wait = edge.tarpit.refusal(client, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
    response
}

fn security_headers(mut response: Response, is_auth: bool) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Token responses must never be cached by a browser or proxy (RFC 6749 §5.1).
    if is_auth || !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    #[tokio::test]
    async fn a_plain_text_error_from_any_layer_leaves_as_problem_json_with_its_headers() {
        let plain = (
            StatusCode::BAD_REQUEST,
            [(header::RETRY_AFTER, "3")],
            "Invalid URL: not UTF-8",
        )
            .into_response();
        let response = security_headers(problem_only(plain), false);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
        let body = to_bytes(response.into_body(), 4096).await.expect("body");
        let problem: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(problem["code"], "bad_request");
        assert_eq!(problem["status"], 400);
    }
}
