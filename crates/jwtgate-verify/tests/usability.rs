//! What a service needs beyond jwtgate's own claims: the RFC 9068 `scope` claim (an accessor, a
//! guard), its own claims as its own type (read from the same strict parse: a duplicate key is
//! still refused), and the key of a secret shared with jwtgate, found by the `kid` jwtgate
//! gives it.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use jwtgate_verify::axum::{
    Auth, AuthRejection, Authenticated, RejectionKind, RequireScope, Scope,
};
use jwtgate_verify::{ACCESS_TOKEN_TYP, Error, Key, KeySet, Policy, Verifier};
use tower::ServiceExt as _;

use common::{AUD, ISS, NOW, claims, fixtures, verifier};

#[test]
fn scopes_are_the_space_separated_scope_claim() {
    let token = fixtures()
        .es
        .token(&[("scope", Some(r#""todos:read  todos:write""#))]);
    let claims = verifier().verify_at(&token, NOW).expect("valid");
    assert_eq!(
        claims.scopes().collect::<Vec<_>>(),
        ["todos:read", "todos:write"]
    );
    assert!(claims.has_scope("todos:write"));
    assert!(!claims.has_scope("todos"), "whole scopes only");
    assert!(!claims.has_scope("TODOS:READ"), "case-sensitive");

    let none = verifier()
        .verify_at(&fixtures().es.token(&[]), NOW)
        .expect("valid");
    assert_eq!(none.scopes().count(), 0);
}

#[test]
fn a_scope_that_is_not_a_string_refuses_the_token() {
    for scope in [r#"["todos:read"]"#, "7", "null", "true"] {
        let token = fixtures().es.token(&[("scope", Some(scope))]);
        assert_eq!(
            verifier().verify_at(&token, NOW),
            Err(Error::InvalidClaim("scope")),
            "{scope}"
        );
    }
}

#[derive(Debug, PartialEq, serde::Deserialize)]
struct Tenant {
    tenant: String,
    seats: u32,
    #[serde(default)]
    features: Vec<String>,
}

#[test]
fn custom_claims_are_read_as_the_services_own_type() {
    let token = fixtures().hs.token(&[
        ("tenant", Some(r#""acme""#)),
        ("seats", Some("12")),
        ("features", Some(r#"["sso"]"#)),
    ]);
    let claims = verifier().verify_at(&token, NOW).expect("valid");
    assert_eq!(
        claims.custom::<Tenant>().expect("fits"),
        Tenant {
            tenant: "acme".into(),
            seats: 12,
            features: vec!["sso".into()]
        }
    );
    // Borrowed too: no copy of the strings.
    #[derive(serde::Deserialize)]
    struct Borrowed<'a> {
        tenant: &'a str,
    }
    assert_eq!(
        claims.custom::<Borrowed<'_>>().expect("fits").tenant,
        "acme"
    );

    let wrong = fixtures()
        .hs
        .token(&[("tenant", Some(r#""acme""#)), ("seats", Some(r#""12""#))]);
    let claims = verifier()
        .verify_at(&wrong, NOW)
        .expect("valid for jwtgate");
    assert!(
        claims.custom::<Tenant>().is_err(),
        "a mistyped claim does not fit"
    );
}

#[test]
fn a_duplicated_custom_claim_refuses_the_token_before_any_type_sees_it() {
    let fixture = &fixtures().hs;
    let payload = claims(&[("tenant", Some(r#""acme""#))]);
    let doubled = format!("{},\"tenant\":\"evil\"}}", &payload[..payload.len() - 1]);
    let token = fixture.forge(fixture.header(), doubled);
    assert_eq!(verifier().verify_at(&token, NOW), Err(Error::DuplicateKey));
}

#[test]
fn the_key_of_a_secret_shared_with_jwtgate_is_found_by_the_kid_jwtgate_gives_it() {
    let secret = b"a JWT_SECRET shared with jwtgate, 32+ bytes";
    let previous = b"the JWT_SECRET before it, also 32+ bytes long";
    // jwtgate signs with the current secret under its derived kid...
    let signer = KeySet::new(Key::shared_secret(secret).expect("key")).expect("set");
    let old_signer = KeySet::new(Key::shared_secret(previous).expect("key")).expect("set");
    let token = signer
        .sign(ACCESS_TOKEN_TYP, &common_claims())
        .expect("signed");
    let old_token = old_signer
        .sign(ACCESS_TOKEN_TYP, &common_claims())
        .expect("signed");
    // ... and a service given the same secrets verifies both, with no kid to configure.
    let keys = KeySet::from_shared_secrets(&[&secret[..], &previous[..]]).expect("keys");
    let service = Verifier::new(keys, Policy::new(ISS, AUD));
    assert!(service.verify_at(&token, NOW).is_ok());
    assert!(service.verify_at(&old_token, NOW).is_ok());
    // The kid is jwtgate's (the server derives it with the same function).
    assert_eq!(
        Key::shared_secret(secret).expect("key").kid(),
        Key::derive_hmac_kid(secret)
    );
    assert!(matches!(
        KeySet::from_shared_secrets(&[b"short".as_slice()]),
        Err(jwtgate_verify::KeyError::SecretTooShort { .. })
    ));
}

fn common_claims() -> serde_json::Value {
    serde_json::from_str(&claims(&[])).expect("json")
}

struct WriteTodos;
impl Scope for WriteTodos {
    const NAME: &'static str = "todos:write";
}

async fn write(user: RequireScope<WriteTodos>) -> String {
    format!("{} may write", user.claims.sub)
}

async fn read(user: Authenticated) -> Result<&'static str, AuthRejection> {
    user.require_scope("todos:read")?;
    Ok("read")
}

async fn call(token: &str, path: &str) -> (StatusCode, Option<RejectionKind>) {
    let app = Router::new()
        .route("/write", get(write))
        .route("/read", get(read))
        .with_state(Arc::new(
            Auth::new(Arc::new(verifier())).with_clock(Arc::new(|| NOW)),
        ));
    let response = app
        .oneshot(
            Request::get(path)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("answer");
    (
        response.status(),
        response.extensions().get::<RejectionKind>().cloned(),
    )
}

#[tokio::test]
async fn the_scope_guard_lets_a_granted_scope_through_and_answers_403_otherwise() {
    let both = fixtures()
        .ed
        .token(&[("scope", Some(r#""todos:read todos:write""#))]);
    let read_only = fixtures().ed.token(&[("scope", Some(r#""todos:read""#))]);
    assert_eq!(call(&both, "/write").await.0, StatusCode::OK);
    assert_eq!(call(&both, "/read").await.0, StatusCode::OK);
    assert_eq!(
        call(&read_only, "/write").await,
        (
            StatusCode::FORBIDDEN,
            Some(RejectionKind::InsufficientScope("todos:write".into()))
        )
    );
    let unscoped = fixtures().ed.token(&[]);
    assert_eq!(
        call(&unscoped, "/read").await,
        (
            StatusCode::FORBIDDEN,
            Some(RejectionKind::InsufficientScope("todos:read".into()))
        )
    );
}

#[test]
fn a_policy_names_its_issuer_and_audience_and_may_accept_more_of_each() {
    let named = Policy::issued_by(ISS).for_audience(AUD);
    assert_eq!(named, Policy::new(ISS, AUD));
    assert_eq!((named.issuer(), named.audience()), (ISS, AUD));

    let fixture = &fixtures().es;
    let shared = fixture.token(&[("aud", Some(r#"["billing","shared-api"]"#))]);
    let moved = fixture.token(&[("iss", Some(r#""https://id.example.com""#))]);
    let strict = Verifier::new(fixtures().key_set(), named.clone());
    assert_eq!(strict.verify_at(&shared, NOW), Err(Error::WrongAudience));
    assert_eq!(strict.verify_at(&moved, NOW), Err(Error::WrongIssuer));

    let wider = Verifier::new(
        fixtures().key_set(),
        named
            .also_audience("shared-api")
            .also_issuer("https://id.example.com"),
    );
    assert!(wider.verify_at(&shared, NOW).is_ok());
    assert!(wider.verify_at(&moved, NOW).is_ok());
    assert!(
        wider.verify_at(&fixture.token(&[]), NOW).is_ok(),
        "the first ones still"
    );
    let elsewhere = fixture.token(&[("aud", Some(r#""billing""#))]);
    assert_eq!(wider.verify_at(&elsewhere, NOW), Err(Error::WrongAudience));
}
