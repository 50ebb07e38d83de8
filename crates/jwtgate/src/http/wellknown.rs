//! Owns `/.well-known/jwks.json` (public keys only) and `/.well-known/openid-configuration`.
//! Must not import sqlx.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks))
        .routes(routes!(discovery))
}

/// A JWK Set (RFC 7517): the public keys that verify the server's tokens.
#[derive(utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "describes jwtgate-verify's `Jwks` in the contract"
)]
struct JwkSet {
    /// Public JWKs (`kty`, `kid`, `alg`, `use`, and the key's own members).
    keys: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The public keys (cacheable for `jwks_max_age_secs`).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    responses((status = 200, description = "The JWK Set", body = JwkSet)),
)]
async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.core.signing().jwks()).into_response();
    // A new key is published at least twice this long before it signs (`key_prepublish_secs`
    // is refused below that), so a verifier that follows it, behind one more cache, has the
    // key before its first token.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        max_age(state.settings.jwks_max_age_secs),
    );
    response
}

fn max_age(secs: i64) -> HeaderValue {
    HeaderValue::try_from(format!("public, max-age={secs}"))
        .unwrap_or(HeaderValue::from_static("public, max-age=300"))
}

#[derive(Serialize, utoipa::ToSchema)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
    token_endpoint: String,
    refresh_endpoint: String,
    end_session_endpoint: String,
    registration_endpoint: String,
    userinfo_endpoint: String,
    grant_types_supported: [&'static str; 2],
    token_endpoint_auth_methods_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: Vec<&'static str>,
    access_token_signing_alg_values_supported: Vec<&'static str>,
}

/// Discovery metadata (OpenID Connect Discovery's names where they apply).
#[utoipa::path(
    get,
    operation_id = "openid_configuration",
    path = "/.well-known/openid-configuration",
    tag = "discovery",
    responses((status = 200, description = "The issuer's metadata", body = Discovery)),
)]
async fn discovery(State(state): State<AppState>) -> Response {
    let issuer = state.core.rules().issuer.clone();
    let base = issuer.trim_end_matches('/').to_owned();
    let algs = state.core.signing().algorithms();
    let mut response = Json(Discovery {
        issuer,
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        token_endpoint: format!("{base}/auth/login"),
        refresh_endpoint: format!("{base}/auth/refresh"),
        end_session_endpoint: format!("{base}/auth/logout"),
        registration_endpoint: format!("{base}/auth/register"),
        userinfo_endpoint: format!("{base}/api/me"),
        grant_types_supported: ["password", "refresh_token"],
        token_endpoint_auth_methods_supported: ["none"],
        id_token_signing_alg_values_supported: algs.clone(),
        access_token_signing_alg_values_supported: algs,
    })
    .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        max_age(state.settings.jwks_max_age_secs),
    );
    response
}
