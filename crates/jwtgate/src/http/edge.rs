//! Owns what every request passes through on its way in and every answer on its way out: the
//! request id (`X-Request-Id` on every answer, and in the log), the per-plan limit of `/api/*`
//! (`ratelimit`), problem+json for every error, the security headers, the refusal tarpit
//! (`shared::tarpit`), the access log line and the request metrics (route template, method,
//! status, latency; read from the clock only when one of the two is on). Must not import sqlx
//! or the domain's services.
//!
//! A tower `Layer` written out rather than `axum::middleware::from_fn`: `from_fn` boxes a
//! cloned inner service into `Next` and boxes a future as large as its largest branch for
//! every request. Here a request pays one boxed future, sized for the common path; the plan
//! limit's larger future is boxed only for `/api/*`. (Profiled on `/healthz`: the layer was
//! the largest part of what jwtgate spends beyond a bare axum server.)

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service, ServiceExt};

use super::error::{ApiError, Refused};
use super::{AppState, extract, ratelimit};
use crate::config::Cidr;
use crate::shared::tarpit::Tarpit;

tokio::task_local! {
    /// The id of the request being served (what a 500's body and the log name it by).
    pub static REQUEST_ID: Arc<str>;
}

/// The route of a request no route matched (an unknown path): one label for all of them.
const NO_ROUTE: &str = "(no route)";

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id a request goes by: the one a trusted proxy gave it (`X-Request-Id`, 1 to 64 of
/// `A-Za-z0-9._-`, so it cannot forge log lines), else a fresh random one.
fn request_id(edge: &Edge, request: &Request) -> Arc<str> {
    if edge.trust_proxy_headers
        && let Some(given) = request.headers().get(&X_REQUEST_ID)
        && (1..=64).contains(&given.len())
        && given
            .as_bytes()
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(b))
        && let Ok(given) = given.to_str()
    {
        return Arc::from(given);
    }
    Arc::from(crate::domain::tokens::random_id())
}

/// The outermost layer of the router.
#[derive(Clone, Debug)]
pub struct EdgeLayer(Arc<Edge>);

impl EdgeLayer {
    pub fn new(app: AppState) -> Self {
        let settings = Arc::clone(&app.settings);
        let metrics = app.metrics.clone();
        Self(Arc::new(Edge {
            app,
            tarpit: Tarpit::new(Duration::from_millis(settings.refusal_delay_max_ms)),
            trust_proxy_headers: settings.trust_proxy_headers,
            trusted_proxies: settings.trusted_proxies.clone(),
            access_log: settings.access_log,
            metrics,
        }))
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = EdgeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EdgeService {
            inner,
            edge: Arc::clone(&self.0),
        }
    }
}

/// What the layer needs: the application (for the plan limit), the tarpit and how to tell the
/// client's address.
#[derive(Debug)]
struct Edge {
    app: AppState,
    tarpit: Tarpit,
    trust_proxy_headers: bool,
    trusted_proxies: Vec<Cidr>,
    access_log: bool,
    metrics: crate::metrics::Metrics,
}

#[derive(Clone, Debug)]
pub struct EdgeService<S> {
    inner: S,
    edge: Arc<Edge>,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for EdgeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Answer {
        // The clone waits for the next request; the one that was made ready serves this one.
        let clone = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, clone);
        let edge = Arc::clone(&self.edge);
        let path = request.uri().path();
        let is_auth = path.starts_with("/auth/");
        let limited = path.starts_with("/api/") && edge.app.limits.is_some();
        let client = Client::of(&edge, &request);
        let id = request_id(&edge, &request);
        // The route template, never the path itself (it may hold ids) nor the query.
        let line = (edge.access_log || edge.metrics.is_on()).then(|| {
            let route = request.extensions().get::<MatchedPath>().cloned();
            (Instant::now(), request.method().clone(), route)
        });
        Box::pin(REQUEST_ID.scope(Arc::clone(&id), async move {
            let response = if limited {
                Box::pin(limit(Arc::clone(&edge), ready, request)).await
            } else {
                ready.oneshot(request).await?
            };
            let mut response = security_headers(problem_only(response), is_auth);
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(X_REQUEST_ID, value);
            }
            if let Some(&Refused(code)) = response.extensions().get::<Refused>() {
                edge.metrics.refused(code);
                if let Some(client) = client.address(&edge) {
                    let wait = edge.tarpit.refusal(client, Instant::now());
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            if let Some((started, method, route)) = line {
                let (took, status) = (started.elapsed(), response.status().as_u16());
                let route = route.as_ref().map_or(NO_ROUTE, MatchedPath::as_str);
                edge.metrics.request(method.as_str(), route, status, took);
                if edge.access_log {
                    tracing::info!(
                        target: "jwtgate::access",
                        %method,
                        route,
                        status,
                        latency_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
                        request_id = %id,
                    );
                }
            }
            Ok(response)
        }))
    }
}

/// Serves a request to `/api/*` within its plan's limit, or refuses it.
async fn limit<S>(edge: Arc<Edge>, inner: S, request: Request) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    match ratelimit::check(&edge.app, request).await {
        (request, ratelimit::Verdict::Unlimited) => answer(inner.oneshot(request).await),
        (request, ratelimit::Verdict::Allowed(headers)) => {
            let mut response = answer(inner.oneshot(request).await);
            response.headers_mut().extend(headers);
            response
        }
        (_, ratelimit::Verdict::Refused(refusal)) => refusal,
    }
}

/// What is kept of a request to tell its client's address, should its answer be a refusal:
/// the socket peer, and `X-Forwarded-For` only when it could name the client (the values are
/// reference-counted, so keeping them copies no bytes).
struct Client {
    peer: Option<IpAddr>,
    forwarded: Vec<HeaderValue>,
}

impl Client {
    fn of(edge: &Edge, request: &Request) -> Self {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip());
        let forwarded = if edge.trust_proxy_headers {
            let values = request.headers().get_all("x-forwarded-for").iter();
            values.cloned().collect()
        } else {
            Vec::new()
        };
        Self { peer, forwarded }
    }

    fn address(&self, edge: &Edge) -> Option<IpAddr> {
        let peer = self.peer?;
        if !edge.trust_proxy_headers {
            return Some(peer.to_canonical());
        }
        // A header that is not visible ASCII is malformed like a bad entry: the proxy's own.
        let values = self
            .forwarded
            .iter()
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        Some(extract::client_ip(peer, values, &edge.trusted_proxies))
    }
}

/// Marks an RFC 6749 §5.2 error of the token, introspection and revocation endpoints.
#[derive(Debug, Clone, Copy)]
pub struct OAuthAnswer;

/// The answer of a service that cannot fail.
fn answer(result: Result<Response, Infallible>) -> Response {
    match result {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The net under every error: a 4xx or 5xx that is not problem+json (the rejection of an
/// extractor we do not wrap, a layer's own answer) is rewritten as one, headers kept, so a
/// client only ever parses one shape of error. The one other shape is the OAuth endpoints'
/// RFC 6749 §5.2 errors, which standard client libraries parse (marked [`OAuthAnswer`]).
fn problem_only(response: Response) -> Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    if !is_error || is_problem || response.extensions().get::<OAuthAnswer>().is_some() {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let (problem, body) = ApiError::for_status(status).into_response().into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(problem.headers);
    Response::from_parts(parts, body)
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
    use axum::http::StatusCode;

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
