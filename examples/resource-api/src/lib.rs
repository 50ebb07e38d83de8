//! The tutorials' protected API, as a user of jwtgate writes it: a todo list per user and an
//! administrators' page, behind `jwtgate-verify`'s extractor. It trusts jwtgate's keys from the
//! JWKS (refetched when a new `kid` appears) and hears of revocations from jwtgate's feed, so a
//! logout on jwtgate is refused here within about a second. Nothing of jwtgate's server is
//! imported: this is what any service does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jwtgate_verify::axum::{Auth, Authenticated, RequireRole, Role};
use jwtgate_verify::remote::{RemoteError, RemoteJwks, RevocationFeed, WhenStale};
use jwtgate_verify::{KeySet, Policy, Verifier};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Where jwtgate is and how to trust it.
#[derive(Debug, Clone)]
pub struct Config {
    /// jwtgate's base URL, which is also its issuer (`iss`).
    pub issuer: String,
    /// The audience jwtgate's access tokens carry (`aud`): `jwtgate` unless configured.
    pub audience: String,
    /// A feed credential (`jwtgate feed-credential add --name resource-api`).
    pub feed_credential: String,
    /// How long revocations may go unheard before tokens are refused (or, with
    /// [`WhenStale::Accept`], checked against what was heard).
    pub max_staleness: Duration,
    pub when_stale: WhenStale,
    /// The origins whose pages may call the API from the browser (a single-page app such as
    /// `examples/spa`), matched exactly; none by default.
    pub cors_origins: Vec<String>,
}

impl Config {
    /// From `JWTGATE_URL`, `FEED_CREDENTIAL`, `AUDIENCE` (jwtgate), `MAX_STALENESS_SECS` (30),
    /// `WHEN_STALE` (`refuse` or `accept`) and `CORS_ORIGINS` (comma-separated, e.g.
    /// `http://127.0.0.1:8000`).
    ///
    /// # Errors
    /// A message naming the variable that is missing or invalid.
    pub fn from_env() -> Result<Config, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let required = |name: &str| var(name).ok_or_else(|| format!("{name} is not set"));
        let max_staleness = match var("MAX_STALENESS_SECS") {
            None => jwtgate_verify::remote::DEFAULT_MAX_STALENESS,
            Some(secs) => Duration::from_secs(
                secs.parse()
                    .map_err(|_| "MAX_STALENESS_SECS must be a number of seconds".to_owned())?,
            ),
        };
        let when_stale = match var("WHEN_STALE").as_deref() {
            None | Some("refuse") => WhenStale::Refuse,
            Some("accept") => WhenStale::Accept,
            Some(_) => return Err("WHEN_STALE must be refuse or accept".to_owned()),
        };
        Ok(Config {
            issuer: required("JWTGATE_URL")?,
            audience: var("AUDIENCE").unwrap_or_else(|| "jwtgate".to_owned()),
            feed_credential: required("FEED_CREDENTIAL")?,
            max_staleness,
            when_stale,
            cors_origins: var("CORS_ORIGINS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// The API, and the feed it follows (its status is on `/healthz`).
pub struct Service {
    pub router: Router,
    pub feed: Arc<RevocationFeed>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("feed", &self.feed.status())
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct AppState {
    auth: Arc<Auth>,
    feed: Arc<RevocationFeed>,
    todos: Arc<Mutex<HashMap<String, Vec<Todo>>>>,
}

impl FromRef<AppState> for Arc<Auth> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.auth)
    }
}

#[derive(Debug, Clone, Serialize)]
struct Todo {
    id: usize,
    title: String,
}

#[derive(Deserialize)]
struct NewTodo {
    title: String,
}

/// The `admin` role of jwtgate's tokens.
struct Admin;
impl Role for Admin {
    const NAME: &'static str = "admin";
}

/// Fetches jwtgate's keys once, starts following its JWKS and its revocation feed (tasks on
/// the current Tokio runtime), and returns the routes.
///
/// # Errors
/// The JWKS could not be fetched, or a URL is not usable.
pub async fn service(config: &Config) -> Result<Service, RemoteError> {
    let issuer = config.issuer.trim_end_matches('/');
    // The feed: every revocation made on jwtgate, within about a second.
    let feed = Arc::new(
        RevocationFeed::builder(issuer, config.feed_credential.clone())
            .max_staleness(config.max_staleness)
            .when_stale(config.when_stale)
            .build()?,
    );
    let verifier = Verifier::new(
        KeySet::empty(),
        Policy::issued_by(issuer).for_audience(config.audience.clone()),
    )
    .with_revocation(feed.view())
    .with_cache(10_000);
    let jwks = format!("{issuer}/.well-known/jwks.json");
    let remote = Arc::new(RemoteJwks::connect(jwks, Arc::new(verifier)).await?);
    tokio::spawn(Arc::clone(&remote).run(std::future::pending()));
    tokio::spawn(Arc::clone(&feed).run(Arc::clone(remote.verifier()), std::future::pending()));

    let state = AppState {
        auth: Arc::new(Auth::remote(remote)),
        feed: Arc::clone(&feed),
        todos: Arc::default(),
    };
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/todos", get(list).post(add))
        .route("/admin/stats", get(stats))
        .with_state(state);
    let router = match cors(&config.cors_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    Ok(Service { router, feed })
}

/// Browser calls from the listed origins alone, with a Bearer token (never cookies: no
/// credentials mode), so a single-page app elsewhere can read the answers. Any other origin
/// gets no CORS header and its page cannot read a thing.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    (!origins.is_empty()).then(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .expose_headers([header::WWW_AUTHENTICATE])
    })
}

/// Up, and how the revocation feed stands (a load balancer may drain a service whose view is
/// stale: it refuses every token meanwhile).
async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "feed": state.feed.status()}))
}

async fn list(State(state): State<AppState>, user: Authenticated) -> Json<Vec<Todo>> {
    let todos = state.todos.lock().unwrap_or_else(PoisonError::into_inner);
    Json(todos.get(&user.claims.sub).cloned().unwrap_or_default())
}

async fn add(
    State(state): State<AppState>,
    user: Authenticated,
    Json(new): Json<NewTodo>,
) -> Response {
    let title = new.title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "invalid_title"})),
        )
            .into_response();
    }
    let mut todos = state.todos.lock().unwrap_or_else(PoisonError::into_inner);
    let mine = todos.entry(user.claims.sub.clone()).or_default();
    let todo = Todo {
        id: mine.len() + 1,
        title: title.to_owned(),
    };
    mine.push(todo.clone());
    (StatusCode::CREATED, Json(todo)).into_response()
}

async fn stats(
    State(state): State<AppState>,
    _admin: RequireRole<Admin>,
) -> Json<serde_json::Value> {
    let todos = state.todos.lock().unwrap_or_else(PoisonError::into_inner);
    Json(json!({"users": todos.len(), "todos": todos.values().map(Vec::len).sum::<usize>()}))
}
