//! Owns the HTTP surface: `AppState`, the router (one per resource), the body limit, security
//! headers and fallbacks. axum lives only here. Must not import sqlx.

pub mod activity;
pub mod admin;
pub mod auth;
pub mod cookies;
pub mod edge;
pub mod error;
pub mod extract;
pub mod feed;
pub mod health;
pub mod me;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod password;
pub mod ratelimit;
pub mod serve;
pub mod sessions;
pub mod tls;
pub mod todos;
pub mod web;
pub mod wellknown;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use jwtgate_verify::axum::Auth as AccessAuth;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Settings;
use crate::domain::accounts::Accounts;
use crate::domain::admin::Admin;
use crate::domain::authorize::Authorize;
use crate::domain::clients::Clients;
use crate::domain::core::Core;
use crate::domain::feed::Feed;
use crate::domain::oauth::Provider;
use crate::domain::sessions::Sessions;
use crate::domain::todos::Todos;
use crate::shared::limits::PlanLimiter;
use crate::shared::throttle::LoginThrottle;
use error::ApiError;

/// Request bodies above this answer 413 `payload_too_large`.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Everything a handler may use, behind one `Arc`; no globals. axum clones the state into
/// every handler call, so a clone is one reference count, not one per service (the profile of
/// `/healthz` had 2% of its CPU in dropping those clones).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Services {
    /// What every service shares: the store, the clock, keys, revocations, CSRF tokens.
    pub core: Arc<Core>,
    /// Sign-in, refresh, sign-out, the session list.
    pub sessions: Arc<Sessions>,
    /// Registration, passwords, addresses, deletion (and their mail).
    pub accounts: Arc<Accounts>,
    pub admin: Arc<Admin>,
    /// The OAuth client registry.
    pub clients: Clients,
    /// The OpenID Connect provider: the authorization step, and the token side.
    pub authorize: Authorize,
    pub provider: Provider,
    pub todos: Arc<Todos>,
    /// This node's login throttle (pruned by the sweeper).
    pub throttle: Arc<LoginThrottle>,
    pub settings: Arc<Settings>,
    /// `jwtgate-verify`'s extractor configuration: the server's verifier, the access cookie,
    /// realm `jwtgate` and the injected clock. The server dogfoods the library's extractor.
    pub access: Arc<AccessAuth>,
    /// The per-plan limiter of `/api/*`; `None` when `rate_limits = "off"`.
    pub limits: Option<Arc<PlanLimiter>>,
    /// The revocation feed for other services, and how many of its streams are open here.
    pub feed: Feed,
    pub feed_streams: Arc<std::sync::atomic::AtomicUsize>,
    /// Set when the server shuts down: open feed streams end (they would hold the drain open).
    pub feed_stop: tokio::sync::watch::Sender<bool>,
    /// What is counted for `metrics_listen` (nothing when it is unset).
    pub metrics: crate::metrics::Metrics,
    /// The OpenAPI document ([`contract`]) as `GET /openapi.json` serves it.
    pub openapi: axum::body::Bytes,
}

impl FromRef<AppState> for Arc<AccessAuth> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.access)
    }
}

/// Every route but the web client's files, each registered together with its description
/// (`utoipa_axum::routes!`): the one list that both the router and the contract are made from.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(me::router())
        .merge(admin::router())
        .merge(todos::router())
        .merge(sessions::router())
        .merge(password::router())
        .merge(activity::router())
        .merge(wellknown::router())
        .merge(health::router())
        .merge(feed::router())
        .merge(oauth::router())
        .routes(routes!(openapi::serve))
}

/// The OpenAPI 3.1 document of [`api`].
pub fn contract() -> utoipa::openapi::OpenApi {
    openapi::document(api().into_openapi())
}

pub fn router(state: AppState) -> Router {
    let (api, _) = api().split_for_parts();
    let router = api
        .merge(web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    // A request that revoked answers once every live node has applied the revocation (several
    // nodes share the database) and the feed's streams have been woken (the reads of a GET
    // never revoke, and never wait).
    let router = router.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        propagate,
    ));
    let router = router.layer(edge::EdgeLayer::new(state.clone()));
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

/// Runs a request that may change something and, if it revoked anything, waits until the other
/// live nodes have applied it (`Revocations::propagated`, bounded by the lease) before answering;
/// on a single node, wakes the feed's streams (`Revocations::committed`).
async fn propagate(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // RP-initiated logout is a GET (a browser navigation) that ends sessions.
    if request.method().is_safe() && request.uri().path() != "/end-session" {
        return next.run(request).await;
    }
    let (response, revoked) = crate::shared::revocation::REVOKED
        .scope(std::cell::Cell::new(false), async {
            let response = next.run(request).await;
            (
                response,
                crate::shared::revocation::REVOKED.with(std::cell::Cell::get),
            )
        })
        .await;
    if revoked {
        let (revocations, store) = (state.core.revocations(), state.core.store());
        if store.is_postgres() {
            // The follower wakes the feed when it applies the entry, here as on every node.
            revocations
                .propagated(store, &state.settings.node_id())
                .await;
        } else {
            revocations.committed(store).await;
        }
    }
    response
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
