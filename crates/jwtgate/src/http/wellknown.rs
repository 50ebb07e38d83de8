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
use crate::domain::authorize::SCOPES;
use crate::domain::signing::{ID_TOKEN_ALG, KeyPurpose, KeyState};

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

/// The algorithms of the keys that verify access tokens now (not the ID-token chain's).
fn access_algorithms(state: &AppState) -> Vec<&'static str> {
    let mut algs: Vec<&'static str> = state
        .core
        .signing()
        .list()
        .into_iter()
        .filter(|k| {
            matches!(
                k.state,
                KeyState::Published | KeyState::Active | KeyState::Retiring
            ) && k.purpose.contains(&KeyPurpose::AccessToken)
        })
        .map(|k| k.alg)
        .collect();
    algs.sort_unstable();
    algs.dedup();
    algs
}

fn max_age(secs: i64) -> HeaderValue {
    HeaderValue::try_from(format!("public, max-age={secs}"))
        .unwrap_or(HeaderValue::from_static("public, max-age=300"))
}

/// OpenID Connect Discovery 1.0 §3 (and RFC 8414): only what this server does.
#[derive(Serialize, utoipa::ToSchema)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: String,
    jwks_uri: String,
    end_session_endpoint: String,
    introspection_endpoint: String,
    revocation_endpoint: String,
    scopes_supported: [&'static str; 2],
    response_types_supported: [&'static str; 1],
    response_modes_supported: [&'static str; 1],
    grant_types_supported: [&'static str; 3],
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 1],
    token_endpoint_auth_methods_supported: [&'static str; 3],
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    revocation_endpoint_auth_methods_supported: [&'static str; 3],
    code_challenge_methods_supported: [&'static str; 1],
    claims_supported: [&'static str; 11],
    /// RFC 9207: authorization responses carry `iss`.
    authorization_response_iss_parameter_supported: bool,
    /// The algorithms of the keys that verify access tokens now (RFC 9068).
    access_token_signing_alg_values_supported: Vec<&'static str>,
}

/// Discovery metadata (OpenID Connect Discovery 1.0, RFC 8414).
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
    let secret_methods = ["client_secret_basic", "client_secret_post"];
    let mut response = Json(Discovery {
        authorization_endpoint: format!("{base}/authorize"),
        token_endpoint: format!("{base}/token"),
        userinfo_endpoint: format!("{base}/userinfo"),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        end_session_endpoint: format!("{base}/end-session"),
        introspection_endpoint: format!("{base}/introspect"),
        revocation_endpoint: format!("{base}/revoke"),
        issuer,
        scopes_supported: SCOPES,
        response_types_supported: ["code"],
        response_modes_supported: ["query"],
        grant_types_supported: ["authorization_code", "refresh_token", "client_credentials"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: [ID_TOKEN_ALG.name()],
        token_endpoint_auth_methods_supported: [secret_methods[0], secret_methods[1], "none"],
        introspection_endpoint_auth_methods_supported: secret_methods,
        revocation_endpoint_auth_methods_supported: [secret_methods[0], secret_methods[1], "none"],
        code_challenge_methods_supported: ["S256"],
        claims_supported: [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "jti",
            "email",
            "email_verified",
        ],
        authorization_response_iss_parameter_supported: true,
        access_token_signing_alg_values_supported: access_algorithms(&state),
    })
    .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        max_age(state.settings.jwks_max_age_secs),
    );
    response
}
