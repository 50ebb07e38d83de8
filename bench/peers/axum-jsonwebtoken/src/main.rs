//! The naive Rust baseline that `bench/run` compares jwtgate with: a minimal axum server that
//! checks a Bearer token with `jsonwebtoken` 11 (aws-lc-rs backend), the way a careful
//! application would write it without a dedicated verifier: keys and a strict `Validation`
//! (iss, aud and exp required) built once at startup, `decode` on every request.
//!
//! It is a benchmark peer, not part of jwtgate: it imports nothing of ours, and it is kept
//! deliberately plain so the comparison stays honest. Do not optimise it.
//!
//! Usage: `axum-jsonwebtoken --listen 127.0.0.1:PORT`, configured by environment:
//! - `JWT_SECRET`: HS256 secret (the raw bytes of the string);
//! - `JWT_ED25519_PUBLIC_KEY`: path to an Ed25519 public key as SPKI PEM (`-----BEGIN PUBLIC
//!   KEY-----`), to accept EdDSA tokens;
//! - `JWT_ES256_PUBLIC_KEY`: path to a P-256 public key as SPKI PEM, to accept ES256 tokens;
//! - `JWT_ISSUER`, `JWT_AUDIENCE`: the expected `iss` and `aud` (defaults below).
//!
//! At least one of the keys must be given. The token's header picks which one is used.
//! Claims are decoded into a typed struct with jwtgate's claims, as a careful user writes it,
//! and `/api/me` answers the same fields as jwtgate's. `/healthz` is bare: no middleware on
//! any route, so jwtgate's `/healthz` against this one is what jwtgate's middleware costs.

use std::{net::SocketAddr, sync::Arc};

use anyhow::{Context, bail};
use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const DEFAULT_ISSUER: &str = "http://127.0.0.1";
const DEFAULT_AUDIENCE: &str = "bench";

/// One accepted algorithm: its key and its validation rules, both built once.
struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

#[derive(Clone)]
struct AppState {
    hs256: Option<Arc<Verifier>>,
    eddsa: Option<Arc<Verifier>>,
    es256: Option<Arc<Verifier>>,
}

/// The claims of a jwtgate access token, each with its JSON type; optional where jwtgate may
/// leave it out. `aud` is one string, as jwtgate issues it.
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // iss, aud, iat, nbf, jti and client_id are checked or carried, not read
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    nbf: Option<i64>,
    jti: String,
    sid: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    #[serde(default)]
    roles: Vec<String>,
    plan: Option<String>,
    client_id: Option<String>,
}

/// The answer of `/api/me`: the fields jwtgate's `/api/me` answers, from the claims.
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

/// The checks jwtgate-verify makes that `jsonwebtoken` can express: issuer, audience,
/// required registered claims, `exp` and `nbf`.
fn strict_validation(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 30;
    validation
}

/// A verifier for `alg` from the public key PEM file named by the environment variable `var`,
/// if it is set.
fn pem_verifier(
    var: &str,
    alg: Algorithm,
    parse: fn(&[u8]) -> jsonwebtoken::errors::Result<DecodingKey>,
    issuer: &str,
    audience: &str,
) -> anyhow::Result<Option<Arc<Verifier>>> {
    match std::env::var(var) {
        Ok(path) if !path.is_empty() => {
            let pem = std::fs::read(&path).with_context(|| format!("reading {path}"))?;
            Ok(Some(Arc::new(Verifier {
                key: parse(&pem).with_context(|| format!("parsing the public key in {var}"))?,
                validation: strict_validation(alg, issuer, audience),
            })))
        }
        _ => Ok(None),
    }
}

fn build_state() -> anyhow::Result<AppState> {
    let issuer = std::env::var("JWT_ISSUER").unwrap_or_else(|_| DEFAULT_ISSUER.to_owned());
    let audience = std::env::var("JWT_AUDIENCE").unwrap_or_else(|_| DEFAULT_AUDIENCE.to_owned());

    let hs256 = match std::env::var("JWT_SECRET") {
        Ok(secret) if !secret.is_empty() => Some(Arc::new(Verifier {
            key: DecodingKey::from_secret(secret.as_bytes()),
            validation: strict_validation(Algorithm::HS256, &issuer, &audience),
        })),
        _ => None,
    };
    let eddsa = pem_verifier(
        "JWT_ED25519_PUBLIC_KEY",
        Algorithm::EdDSA,
        DecodingKey::from_ed_pem,
        &issuer,
        &audience,
    )?;
    let es256 = pem_verifier(
        "JWT_ES256_PUBLIC_KEY",
        Algorithm::ES256,
        DecodingKey::from_ec_pem,
        &issuer,
        &audience,
    )?;
    if hs256.is_none() && eddsa.is_none() && es256.is_none() {
        bail!("set JWT_SECRET, JWT_ED25519_PUBLIC_KEY and/or JWT_ES256_PUBLIC_KEY");
    }
    Ok(AppState {
        hs256,
        eddsa,
        es256,
    })
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\""),
        )],
    )
        .into_response()
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return unauthorized();
    };
    let Ok(token_header) = decode_header(token) else {
        return unauthorized();
    };
    let verifier = match token_header.alg {
        Algorithm::HS256 => state.hs256.as_deref(),
        Algorithm::EdDSA => state.eddsa.as_deref(),
        Algorithm::ES256 => state.es256.as_deref(),
        _ => None,
    };
    let Some(verifier) = verifier else {
        return unauthorized();
    };
    match decode::<Claims>(token, &verifier.key, &verifier.validation) {
        Ok(data) => {
            let claims = &data.claims;
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
        Err(_) => unauthorized(),
    }
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

fn listen_addr() -> anyhow::Result<SocketAddr> {
    let mut args = std::env::args().skip(1);
    let mut listen = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next(),
            other => bail!("unknown argument {other}; usage: axum-jsonwebtoken --listen ADDR"),
        }
    }
    listen
        .as_deref()
        .unwrap_or("127.0.0.1:3000")
        .parse()
        .context("--listen must be an IP:PORT")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = listen_addr()?;
    let state = build_state()?;
    let app = Router::new()
        .route("/api/me", get(me))
        .route("/healthz", get(healthz))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!(
        "axum-jsonwebtoken listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            // Without a handler the default SIGINT/SIGTERM disposition also ends the process;
            // this just lets in-flight requests finish when run by hand.
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
