//! Access tokens: claims, /api/me, RFC 6750 rejections, foreign issuer/audience, JWKS, discovery.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, problem, spawn_app, spawn_app_with};

/// Part `index` of a JWT (0 the header, 1 the claims), decoded without verifying anything.
pub fn decode_part(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(index).expect("part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("b64");
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn access_tokens_carry_the_rfc_9068_header_and_claims() {
    let app = spawn_app().await;
    let body = app.signed_in("ada@example.com").await;
    let token = body["access_token"].as_str().expect("token");
    let header = decode_part(token, 0);
    assert_eq!(header["typ"], "at+jwt");
    // ES256 by default: the most verifiers read it (jsonwebtoken 9 and jwks-rsa cannot
    // read an Ed25519 key at all).
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].is_string());
    let claims = decode_part(token, 1);
    for claim in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "sid",
        "email",
        "client_id",
    ] {
        assert!(!claims[claim].is_null(), "missing {claim}");
    }
    // The issuer was not set: it follows the address the server bound.
    assert_eq!(claims["iss"], app.address.as_str());
    assert_eq!(claims["aud"], "jwtgate");
    assert_eq!(claims["sub"], body["user"]["id"]);
    assert_eq!(
        claims["exp"].as_i64().expect("exp") - claims["iat"].as_i64().expect("iat"),
        900
    );
}

#[tokio::test]
async fn me_returns_the_profile_from_the_token() {
    let app = spawn_app().await;
    let body = app.signed_in("ada@example.com").await;
    let response = app
        .get_bearer("/api/me", body["access_token"].as_str().expect("t"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.expect("json");
    assert_eq!(me["id"], body["user"]["id"]);
    // The discovery document's userinfo endpoint: OpenID Connect requires `sub`.
    assert_eq!(me["sub"], body["user"]["id"]);
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["roles"], json!([]));
}

#[tokio::test]
async fn me_without_a_token_is_a_401_without_an_error_parameter() {
    let app = spawn_app().await;
    let response = app.get("/api/me").await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"jwtgate\""
    );
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "missing_credentials")
    );
}

#[tokio::test]
async fn a_garbage_token_is_a_401_invalid_token() {
    let app = spawn_app().await;
    let response = app.get_bearer("/api/me", "eyJhbGciOiJub25lIn0.e30.").await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"jwtgate\", error=\"invalid_token\""
    );
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn an_expired_access_token_is_rejected() {
    let app = spawn_app().await;
    let body = app.signed_in("ada@example.com").await;
    let token = body["access_token"].as_str().expect("t");
    app.clock.advance(900 + 31);
    let (status, code, _) = problem(app.get_bearer("/api/me", token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn a_token_from_another_issuer_or_audience_is_rejected() {
    // Three servers sharing one HS256 secret: only the issuer and the audience differ.
    let secret = "a-very-long-shared-secret-of-more-than-32-bytes";
    let ours =
        spawn_app_with(|s| s.jwt_secret = Some(jwtgate::config::SecretString::new(secret))).await;
    let other_issuer = spawn_app_with(|s| {
        s.jwt_secret = Some(jwtgate::config::SecretString::new(secret));
        s.issuer = Some("https://evil.example".into());
    })
    .await;
    let other_audience = spawn_app_with(|s| {
        s.jwt_secret = Some(jwtgate::config::SecretString::new(secret));
        s.audience = "billing".into();
    })
    .await;
    let own = ours.signed_in("ada@example.com").await;
    assert_eq!(
        ours.get_bearer("/api/me", own["access_token"].as_str().expect("t"))
            .await
            .status(),
        StatusCode::OK
    );
    for foreign in [&other_issuer, &other_audience] {
        let body = foreign.signed_in("ada@example.com").await;
        let token = body["access_token"].as_str().expect("t");
        assert_eq!(decode_part(token, 0)["alg"], "HS256");
        let (status, code, _) = problem(ours.get_bearer("/api/me", token).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
    }
}

#[tokio::test]
async fn bearer_header_and_access_cookie_together_are_a_400() {
    let app = spawn_app().await;
    let body = app.signed_in("ada@example.com").await;
    let token = body["access_token"].as_str().expect("t");
    let response = app
        .client
        .get(app.url("/api/me"))
        .bearer_auth(token)
        .header("cookie", format!("__Host-jwtgate_at={token}"))
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

#[tokio::test]
async fn jwks_publishes_public_keys_only_with_cache_control() {
    let app = spawn_app().await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = response.json().await.expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["crv"], "P-256");
    assert!(keys[0].get("d").is_none(), "private part leaked");
    let body = app.signed_in("ada@example.com").await;
    let header = decode_part(body["access_token"].as_str().expect("t"), 0);
    assert_eq!(header["kid"], keys[0]["kid"]);
}

#[tokio::test]
async fn openid_configuration_points_at_the_endpoints() {
    let app = spawn_app().await;
    let config: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    // The issuer was not set: discovery follows the address the server bound.
    let base = app.address.as_str();
    assert_eq!(config["issuer"], base);
    assert_eq!(config["jwks_uri"], format!("{base}/.well-known/jwks.json"));
    assert_eq!(config["token_endpoint"], format!("{base}/token"));
    assert_eq!(
        config["authorization_endpoint"],
        format!("{base}/authorize")
    );
    // OpenID Connect's ID tokens are RS256; access tokens keep the configured algorithm.
    assert_eq!(
        config["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(
        config["access_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
}

#[tokio::test]
async fn the_signing_key_survives_a_restart_and_only_the_master_key_is_a_file() {
    let app = spawn_app().await;
    let body = app.signed_in("ada@example.com").await;
    let token = body["access_token"].as_str().expect("t").to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(app.data_dir.join("master.key"))
            .expect("master key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The keys are sealed in the database: no private key lies in the data directory.
    for file in ["signing-key.pem", "refresh-hmac.key", "csrf-hmac.key"] {
        assert!(!app.data_dir.join(file).exists(), "{file}");
    }
    let app = app.restart().await;
    assert_eq!(
        app.get_bearer("/api/me", &token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_configured_pem_signing_key_is_used_for_es256_and_rs256() {
    use jwtgate::config::PemAlgorithm;
    use jwtgate_verify::{Algorithm, Key};
    for (alg, pem_alg, kty) in [
        (Algorithm::ES256, PemAlgorithm::ES256, "EC"),
        (Algorithm::RS256, PemAlgorithm::RS256, "RSA"),
    ] {
        let key_dir = tempfile::tempdir().expect("tempdir");
        let pem_path = key_dir.path().join("key.pem");
        let pem = Key::generate(alg)
            .expect("generate")
            .to_pkcs8_pem()
            .expect("pem");
        std::fs::write(&pem_path, pem).expect("write");
        let app = spawn_app_with(|s| {
            s.signing_key_file = Some(pem_path.clone());
            s.signing_key_alg = pem_alg;
        })
        .await;
        let body = app.signed_in("ada@example.com").await;
        let token = body["access_token"].as_str().expect("t");
        assert_eq!(decode_part(token, 0)["alg"], alg.name());
        assert_eq!(
            app.get_bearer("/api/me", token).await.status(),
            StatusCode::OK
        );
        let jwks: Value = app
            .get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(jwks["keys"][0]["kty"], kty);
        assert!(!app.data_dir.join("signing-key.pem").exists());
    }
}
