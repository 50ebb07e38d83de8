//! Owns the request-side adapters: the JSON body extractor (problem+json on every failure), the
//! client IP, cookies, and the access-token extractor (Bearer header or `__Host-` cookie, with the
//! CSRF rule for cookie-authenticated state changes). Must not import sqlx.
//!
//! The access token itself is found and verified by `jwtgate-verify`'s axum extractor (one
//! definition of a valid token, shared with every service that trusts ours), fed the server's
//! injected clock through `AppState::access`. What stays here is the server's own rule: a
//! cookie-authenticated request that changes state must also carry the CSRF header.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequestParts, Path, Request,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use jwtgate_verify::Claims;
use jwtgate_verify::axum::TokenSource;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::config::Cidr;

pub const CSRF_HEADER: &str = "x-csrf-token";

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .is_some_and(|m| {
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
}

async fn body_bytes(req: Request, state: &AppState) -> Result<(HeaderMap, Bytes), ApiError> {
    let headers = req.headers().clone();
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if super::serve::is_body_timeout(&rejection) {
            ApiError::for_status(StatusCode::REQUEST_TIMEOUT)
        } else if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::client(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request bodies are limited to {} bytes", super::BODY_LIMIT),
            )
        } else {
            ApiError::bad_request("bad_request", "the request body could not be read")
        }
    })?;
    Ok((headers, bytes))
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => {
                let message = e.to_string();
                // serde's messages name the field but never echo values of other fields.
                let detail = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_owned();
                if message.starts_with("missing field") {
                    ApiError::client(StatusCode::UNPROCESSABLE_ENTITY, "missing_field", detail)
                } else {
                    ApiError::client(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", detail)
                }
            }
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request("invalid_json", "the request body is not valid JSON")
            }
        }
    })
}

/// A JSON body: 415 `unsupported_media_type` without a JSON content type, 413 over the limit,
/// 400 `invalid_json` for bad syntax, 422 `missing_field`/`invalid_field` for the wrong shape.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let (_, bytes) = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Like [`ApiJson`], but an empty body is `None` (refresh and logout in cookie mode).
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (headers, bytes) = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        if !is_json(&headers) {
            return Err(ApiError::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        parse_json(&bytes).map(|v| OptionalJson(Some(v)))
    }
}

/// A path parameter: 400 `invalid_path` when it does not decode (bad percent-encoding, not
/// UTF-8), never axum's plain-text rejection.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        <Path<T> as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_path",
                    "the URL path does not decode: percent-encoded bytes must be UTF-8",
                )
            })
    }
}

/// The value of cookie `name`, read by `jwtgate-verify`'s rules (the same reader as the access
/// cookie's); sent twice, it is [`ApiError::DuplicateCookie`].
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ApiError> {
    jwtgate_verify::axum::cookie(headers, name).map_err(|_| ApiError::DuplicateCookie)
}

pub fn csrf_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

pub fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect())
}

/// The client address. Without `trust_proxy_headers`, the socket peer. With it, and only when
/// the peer is one of `trusted_proxies`, `X-Forwarded-For` is walked from the right: each hop a
/// trusted proxy added is skipped, and the first address that is not a trusted proxy is the
/// client. An entry that is not a bare IP address (`ip:port`, `unknown`, garbage) ends the walk
/// at the last trusted hop: a proxy's own address, never a value the client could choose.
#[derive(Debug, Clone)]
pub struct ClientIp(pub String);

/// The client address of a request from `peer` carrying `forwarded` (`X-Forwarded-For`
/// values in header order).
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[Cidr],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let mut hop = peer.to_canonical();
    if !is_trusted(hop) {
        return hop;
    }
    for entry in forwarded.flat_map(|v| v.split(',')).rev() {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            return hop;
        };
        hop = ip.to_canonical();
        if !is_trusted(hop) {
            return hop;
        }
    }
    hop
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(ConnectInfo(peer)) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(ClientIp("unknown".to_owned()));
        };
        if !state.settings.trust_proxy_headers {
            return Ok(ClientIp(peer.ip().to_canonical().to_string()));
        }
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            // A header that is not visible ASCII is malformed like a bad entry: the proxy's own.
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let ip = client_ip(peer.ip(), forwarded, &state.settings.trusted_proxies);
        Ok(ClientIp(ip.to_string()))
    }
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Where an access token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Bearer,
    Cookie,
}

/// Verified access-token claims; rejects with RFC 6750 answers.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub claims: Arc<Claims>,
    pub transport: Transport,
}

impl Authenticated {
    /// The server's view of the library's verdict, after the CSRF rule.
    pub fn from_verified(
        verified: &jwtgate_verify::axum::Authenticated,
        state: &AppState,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Self, ApiError> {
        let transport = match verified.source {
            TokenSource::Bearer => Transport::Bearer,
            TokenSource::Cookie => Transport::Cookie,
        };
        // jwtgate's own API is the web client's: a token issued to an app (through /authorize
        // or client_credentials) is for the services that app calls, never for acting as the
        // user here (an app must not read sessions, change the password or administer).
        if verified.claims.client_id.as_deref() != Some(crate::domain::core::CLIENT_ID) {
            return Err(ApiError::unauthorized(
                "invalid_token",
                "this access token was issued to another app",
                true,
            ));
        }
        // A browser attaches the cookie to cross-site requests too; only a same-origin script
        // can read the CSRF token, so a state change by cookie must prove it knows it.
        if transport == Transport::Cookie && is_state_changing(method) {
            let sid = verified.claims.sid.as_deref().unwrap_or_default();
            if sid.is_empty() || !state.core.csrf_matches(sid, csrf_header(headers)) {
                return Err(ApiError::csrf_failed());
            }
        }
        Ok(Authenticated {
            claims: Arc::clone(&verified.claims),
            transport,
        })
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Verified once per request: the library keeps its verdict in the request extensions,
        // so a rate-limit layer or a role guard that ran before costs nothing here.
        let verified =
            <jwtgate_verify::axum::Authenticated as FromRequestParts<AppState>>::from_request_parts(
                parts, state,
            )
            .await?;
        Authenticated::from_verified(&verified, state, &parts.method, &parts.headers)
    }
}

/// `Option<Authenticated>`: `None` when the request carries no access token at all; a bad,
/// ambiguous or cross-site one is still refused.
impl OptionalFromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        let verified = <jwtgate_verify::axum::Authenticated as OptionalFromRequestParts<
            AppState,
        >>::from_request_parts(parts, state)
        .await?;
        verified
            .map(|v| Authenticated::from_verified(&v, state, &parts.method, &parts.headers))
            .transpose()
    }
}

/// The `admin` role, for `jwtgate_verify::axum::RequireRole`.
#[derive(Debug)]
pub struct AdminRole;

impl jwtgate_verify::axum::Role for AdminRole {
    const NAME: &'static str = "admin";
}

/// A caller holding the `admin` role: the library's role guard (401 without credentials, 403
/// `insufficient_scope` without the role), then the server's CSRF rule.
#[derive(Debug, Clone)]
pub struct Admin(pub Authenticated);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let guard = <jwtgate_verify::axum::RequireRole<AdminRole> as FromRequestParts<
            AppState,
        >>::from_request_parts(parts, state)
        .await?;
        Authenticated::from_verified(&guard.auth, state, &parts.method, &parts.headers).map(Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn the_walk_stops_at_the_first_untrusted_hop_or_the_first_malformed_entry() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().expect("cidr")];
        let walk = |peer: &str, headers: &[&str]| {
            client_ip(ip(peer), headers.iter().copied(), &trusted).to_string()
        };
        assert_eq!(walk("192.0.2.1", &["198.51.100.1"]), "192.0.2.1");
        assert_eq!(walk("10.0.0.1", &[]), "10.0.0.1");
        assert_eq!(
            walk("10.0.0.1", &["198.51.100.1, 10.1.1.1"]),
            "198.51.100.1"
        );
        assert_eq!(
            walk("10.0.0.1", &["1.1.1.1", "10.2.2.2, 10.1.1.1"]),
            "1.1.1.1"
        );
        assert_eq!(walk("10.0.0.1", &["1.1.1.1, 10.1.1.1:80"]), "10.0.0.1");
        assert_eq!(walk("10.0.0.1", &["1.1.1.1, bogus, 10.1.1.1"]), "10.1.1.1");
        assert_eq!(walk("10.0.0.1", &["10.3.3.3"]), "10.3.3.3");
        assert_eq!(walk("::ffff:10.0.0.1", &[" 2001:db8::5 "]), "2001:db8::5");
    }
}
