//! The axum extractor and role guard, through a real `Router`: every RFC 6750 answer pinned by
//! status, exact `WWW-Authenticate`, problem `code`, and the reason kept for the server.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::FromRef;
use axum::http::{Extensions, HeaderMap, Request, StatusCode, header};
use axum::routing::get;
use http_body_util::BodyExt;
use jwtgate_verify::axum::{
    Auth, AuthRejection, Authenticated, InvalidRequest, RejectionKind, RequireRole, Role,
    TokenSource,
};
use jwtgate_verify::{
    ACCESS_TOKEN_TYP, Algorithm, Audience, Claims, Error, Key, KeySet, Policy, RevocationView,
    Verifier,
};
use tower::ServiceExt;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "api";
const COOKIE: &str = "__Host-access";

const MISSING: &str = r#"Bearer realm="jwtgate""#;
const INVALID_TOKEN: &str = r#"Bearer realm="jwtgate", error="invalid_token""#;
const INVALID_REQUEST: &str = r#"Bearer realm="jwtgate", error="invalid_request""#;
const INSUFFICIENT_SCOPE: &str = r#"Bearer realm="jwtgate", error="insufficient_scope""#;

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("fits")
}

fn claims(roles: &[&str]) -> Claims {
    let now = now();
    Claims {
        iss: ISS.into(),
        sub: "user-1".into(),
        aud: Audience::One(AUD.into()),
        exp: now + 600,
        iat: now,
        nbf: None,
        jti: format!("jti-{}", roles.join("-")),
        sid: Some("sid-1".into()),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        plan: None,
        email: None,
        email_verified: None,
        client_id: None,
        extra: serde_json::Map::new(),
    }
}

struct Fixture {
    keys: KeySet,
    revocation: Arc<RevocationView>,
    verifier: Arc<Verifier>,
}

fn fixture() -> Fixture {
    let keys =
        KeySet::new(Key::hmac("k1", Algorithm::HS256, &[7u8; 32]).expect("key")).expect("set");
    let revocation = Arc::new(RevocationView::new());
    let verifier = Arc::new(
        Verifier::new(
            KeySet::new(Key::hmac("k1", Algorithm::HS256, &[7u8; 32]).expect("key")).expect("set"),
            Policy::new(ISS, AUD),
        )
        .with_revocation(Arc::clone(&revocation)),
    );
    Fixture {
        keys,
        revocation,
        verifier,
    }
}

impl Fixture {
    fn token(&self, roles: &[&str]) -> String {
        self.keys
            .sign(ACCESS_TOKEN_TYP, &claims(roles))
            .expect("signed")
    }

    fn app(&self) -> Router {
        app(Auth::new(Arc::clone(&self.verifier)).with_cookie(COOKIE))
    }
}

struct Admin;
impl Role for Admin {
    const NAME: &'static str = "admin";
}

async fn me(user: Authenticated) -> String {
    let source = match user.source {
        TokenSource::Bearer => "bearer",
        TokenSource::Cookie => "cookie",
    };
    format!("{} via {source}", user.claims.sub)
}

async fn admin(user: RequireRole<Admin>) -> String {
    format!("admin {}", user.claims.sub)
}

async fn maybe(user: Option<Authenticated>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |u| u.claims.sub.clone())
}

async fn billing(user: Authenticated) -> Result<&'static str, AuthRejection> {
    user.require_role("billing")?;
    Ok("billing")
}

/// Both extractors in one handler: the token is verified once and both see it.
async fn both(user: Authenticated, admin: RequireRole<Admin>) -> String {
    format!("{} {}", user.claims.jti, admin.claims.jti)
}

fn app(auth: Auth) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin))
        .route("/maybe", get(maybe))
        .route("/billing", get(billing))
        .route("/both", get(both))
        .with_state(Arc::new(auth))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    extensions: Extensions,
    body: Bytes,
}

impl Answer {
    fn www_authenticate(&self) -> Option<&str> {
        self.headers
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().expect("ascii"))
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8")
    }

    /// Asserts a problem+json rejection and returns its `code`.
    fn problem_code(&self) -> String {
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .expect("content type"),
            "application/problem+json"
        );
        assert_eq!(
            self.headers
                .get(header::CACHE_CONTROL)
                .expect("cache control"),
            "no-store"
        );
        let body: serde_json::Value = serde_json::from_slice(&self.body).expect("json body");
        let object = body.as_object().expect("object");
        let mut members: Vec<&str> = object.keys().map(String::as_str).collect();
        members.sort_unstable();
        assert_eq!(members, ["code", "detail", "status", "title", "type"]);
        assert_eq!(
            body["type"],
            format!(
                "https://jwtgate.dev/problems/{}",
                body["code"].as_str().expect("code")
            )
        );
        assert_eq!(
            body["title"].as_str(),
            jwtgate_verify::axum::problem_title(body["code"].as_str().expect("code"))
        );
        assert_eq!(body["status"], self.status.as_u16());
        body["code"].as_str().expect("code").to_owned()
    }

    fn reason(&self) -> Option<&Error> {
        self.extensions.get::<Error>()
    }

    fn kind(&self) -> &RejectionKind {
        self.extensions.get::<RejectionKind>().expect("kind")
    }
}

async fn send(app: Router, path: &str, headers: &[(header::HeaderName, &str)]) -> Answer {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = app
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        extensions: parts.extensions,
        body: body.collect().await.expect("body").to_bytes(),
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn valid_bearer_token_is_accepted() {
    let f = fixture();
    let answer = send(
        f.app(),
        "/me",
        &[(header::AUTHORIZATION, &bearer(&f.token(&[])))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.text(), "user-1 via bearer");
}

#[tokio::test]
async fn valid_cookie_token_is_accepted_among_other_cookies() {
    let f = fixture();
    let cookie = format!("theme=dark; {COOKIE}={}; lang=en", f.token(&[]));
    let answer = send(f.app(), "/me", &[(header::COOKIE, &cookie)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.text(), "user-1 via cookie");
}

#[tokio::test]
async fn scheme_is_case_insensitive() {
    let f = fixture();
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let value = format!("{scheme} {}", f.token(&[]));
        let answer = send(f.app(), "/me", &[(header::AUTHORIZATION, &value)]).await;
        assert_eq!(answer.status, StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn no_credentials_get_a_challenge_without_error_code() {
    let f = fixture();
    let answer = send(f.app(), "/me", &[(header::COOKIE, "theme=dark")]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.www_authenticate(), Some(MISSING));
    assert_eq!(answer.problem_code(), "missing_credentials");
    assert_eq!(answer.kind(), &RejectionKind::MissingCredentials);
    assert_eq!(answer.reason(), None);
}

/// RFC 6750 §3.1: a request "attempted using an unsupported authentication method" lacks
/// Bearer credentials, so it gets the bare challenge, not `invalid_request`.
#[tokio::test]
async fn basic_scheme_counts_as_no_bearer_credentials() {
    let f = fixture();
    let answer = send(
        f.app(),
        "/me",
        &[(header::AUTHORIZATION, "Basic dXNlcjpwYXNzd29yZA==")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.www_authenticate(), Some(MISSING));
    assert_eq!(answer.problem_code(), "missing_credentials");
}

#[tokio::test]
async fn basic_scheme_with_the_cookie_uses_the_cookie() {
    let f = fixture();
    let cookie = format!("{COOKIE}={}", f.token(&[]));
    let answer = send(
        f.app(),
        "/me",
        &[
            (header::AUTHORIZATION, "Basic dXNlcjpwYXNzd29yZA=="),
            (header::COOKIE, &cookie),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.text(), "user-1 via cookie");
}

fn expired_token(f: &Fixture) -> String {
    let mut claims = claims(&[]);
    claims.iat = now() - 3000;
    claims.exp = now() - 2000;
    f.keys.sign(ACCESS_TOKEN_TYP, &claims).expect("signed")
}

fn forged_token(f: &Fixture) -> String {
    let token = f.token(&[]);
    let (signed, signature) = token.rsplit_once('.').expect("three segments");
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    format!("{signed}.{flipped}{}", &signature[1..])
}

#[tokio::test]
async fn expired_token_is_invalid_token_with_the_reason_kept_for_the_server() {
    let f = fixture();
    let answer = send(
        f.app(),
        "/me",
        &[(header::AUTHORIZATION, &bearer(&expired_token(&f)))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.www_authenticate(), Some(INVALID_TOKEN));
    assert_eq!(answer.problem_code(), "invalid_token");
    assert_eq!(answer.reason(), Some(&Error::Expired));
    assert_eq!(answer.kind().reason(), "expired");
}

#[tokio::test]
async fn every_token_failure_gets_the_same_answer() {
    let f = fixture();
    let expired = send(
        f.app(),
        "/me",
        &[(header::AUTHORIZATION, &bearer(&expired_token(&f)))],
    )
    .await;
    let cases = [
        (forged_token(&f), Error::BadSignature),
        ("not.a.jwt".to_owned(), Error::Base64),
        ("x".repeat(9000), Error::TooLarge),
    ];
    for (token, reason) in cases {
        let answer = send(f.app(), "/me", &[(header::AUTHORIZATION, &bearer(&token))]).await;
        assert_eq!(answer.status, expired.status, "{reason:?}");
        assert_eq!(answer.headers, expired.headers, "{reason:?}");
        assert_eq!(answer.body, expired.body, "{reason:?}");
        assert_eq!(answer.reason(), Some(&reason));
    }
}

#[tokio::test]
async fn bad_cookie_token_is_invalid_token() {
    let f = fixture();
    let cookie = format!("{COOKIE}={}", forged_token(&f));
    let answer = send(f.app(), "/me", &[(header::COOKIE, &cookie)]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.www_authenticate(), Some(INVALID_TOKEN));
    assert_eq!(answer.problem_code(), "invalid_token");
    assert_eq!(answer.reason(), Some(&Error::BadSignature));
}

#[tokio::test]
async fn revoked_token_is_invalid_token() {
    let f = fixture();
    let token = f.token(&[]);
    f.revocation.revoke_session("sid-1", now() + 3600);
    let answer = send(f.app(), "/me", &[(header::AUTHORIZATION, &bearer(&token))]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.www_authenticate(), Some(INVALID_TOKEN));
    assert_eq!(answer.problem_code(), "invalid_token");
    assert_eq!(answer.reason(), Some(&Error::Revoked));
}

#[tokio::test]
async fn a_stale_leased_view_is_503_revocation_view_stale_not_a_sign_out() {
    let keys =
        KeySet::new(Key::hmac("k1", Algorithm::HS256, &[7u8; 32]).expect("key")).expect("set");
    let view = Arc::new(RevocationView::leased());
    let verifier = Arc::new(
        Verifier::new(keys.clone(), Policy::new(ISS, AUD)).with_revocation(Arc::clone(&view)),
    );
    let app = app(Auth::new(verifier));
    let token = keys.sign(ACCESS_TOKEN_TYP, &claims(&[])).expect("signed");
    let answer = send(
        app.clone(),
        "/me",
        &[(header::AUTHORIZATION, &bearer(&token))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.problem_code(), "revocation_view_stale");
    assert_eq!(answer.headers[header::RETRY_AFTER], "1");
    assert_eq!(
        answer.www_authenticate(),
        None,
        "nothing is wrong with the token"
    );
    assert_eq!(answer.kind(), &RejectionKind::RevocationStale);
    view.renew_until(std::time::Instant::now() + std::time::Duration::from_secs(60));
    let answer = send(app, "/me", &[(header::AUTHORIZATION, &bearer(&token))]).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn bearer_header_and_cookie_together_are_invalid_request() {
    let f = fixture();
    let token = f.token(&[]);
    let cookie = format!("{COOKIE}={token}");
    let answer = send(
        f.app(),
        "/me",
        &[
            (header::AUTHORIZATION, &bearer(&token)),
            (header::COOKIE, &cookie),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.www_authenticate(), Some(INVALID_REQUEST));
    assert_eq!(answer.problem_code(), "invalid_request");
    assert_eq!(
        answer.kind(),
        &RejectionKind::InvalidRequest(InvalidRequest::HeaderAndCookie)
    );
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let f = fixture();
    let value = bearer(&f.token(&[]));
    let answer = send(
        f.app(),
        "/me",
        &[
            (header::AUTHORIZATION, &value),
            (header::AUTHORIZATION, &value),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.www_authenticate(), Some(INVALID_REQUEST));
    assert_eq!(answer.problem_code(), "invalid_request");
    assert_eq!(
        answer.kind(),
        &RejectionKind::InvalidRequest(InvalidRequest::MultipleAuthorizationHeaders)
    );
}

#[tokio::test]
async fn malformed_bearer_headers_are_invalid_request() {
    let f = fixture();
    let token = f.token(&[]);
    for value in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Bearer {token} {token}"),
        format!("Bearer {token},x"),
        format!("Bearer \"{token}\""),
        format!("Bearer\t{token}"),
    ] {
        let answer = send(f.app(), "/me", &[(header::AUTHORIZATION, &value)]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{value}");
        assert_eq!(answer.www_authenticate(), Some(INVALID_REQUEST));
        assert_eq!(answer.problem_code(), "invalid_request");
        assert_eq!(
            answer.kind(),
            &RejectionKind::InvalidRequest(InvalidRequest::MalformedAuthorization)
        );
    }
}

#[tokio::test]
async fn the_cookie_twice_is_invalid_request() {
    let f = fixture();
    let cookie = format!(
        "{COOKIE}={}; {COOKIE}={}",
        f.token(&[]),
        f.token(&["admin"])
    );
    let answer = send(f.app(), "/me", &[(header::COOKIE, &cookie)]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.www_authenticate(), Some(INVALID_REQUEST));
    assert_eq!(
        answer.kind(),
        &RejectionKind::InvalidRequest(InvalidRequest::DuplicateCookie)
    );
}

#[tokio::test]
async fn cookies_are_ignored_unless_configured() {
    let f = fixture();
    let cookie = format!("{COOKIE}={}", f.token(&[]));
    let bearer_only = app(Auth::new(Arc::clone(&f.verifier)));
    let answer = send(bearer_only, "/me", &[(header::COOKIE, &cookie)]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.www_authenticate(), Some(MISSING));
}

#[tokio::test]
async fn role_present_is_let_through() {
    let f = fixture();
    let value = bearer(&f.token(&["admin"]));
    let answer = send(f.app(), "/admin", &[(header::AUTHORIZATION, &value)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.text(), "admin user-1");
}

#[tokio::test]
async fn role_absent_is_insufficient_scope() {
    let f = fixture();
    let value = bearer(&f.token(&["editor"]));
    let answer = send(f.app(), "/admin", &[(header::AUTHORIZATION, &value)]).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.www_authenticate(), Some(INSUFFICIENT_SCOPE));
    assert_eq!(answer.problem_code(), "insufficient_scope");
    assert_eq!(
        answer.kind(),
        &RejectionKind::InsufficientScope("admin".into())
    );
}

#[tokio::test]
async fn role_guard_authenticates_before_it_authorises() {
    let f = fixture();
    let none = send(f.app(), "/admin", &[]).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.www_authenticate(), Some(MISSING));
    let expired = send(
        f.app(),
        "/admin",
        &[(header::AUTHORIZATION, &bearer(&expired_token(&f)))],
    )
    .await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.www_authenticate(), Some(INVALID_TOKEN));
}

#[tokio::test]
async fn dynamic_role_check_answers_like_the_guard() {
    let f = fixture();
    let without = send(
        f.app(),
        "/billing",
        &[(header::AUTHORIZATION, &bearer(&f.token(&[])))],
    )
    .await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    assert_eq!(without.www_authenticate(), Some(INSUFFICIENT_SCOPE));
    assert_eq!(without.problem_code(), "insufficient_scope");
    let with = send(
        f.app(),
        "/billing",
        &[(header::AUTHORIZATION, &bearer(&f.token(&["billing"])))],
    )
    .await;
    assert_eq!(with.status, StatusCode::OK);
}

#[tokio::test]
async fn both_extractors_in_one_handler_see_the_same_token() {
    let f = fixture();
    let value = bearer(&f.token(&["admin"]));
    let answer = send(f.app(), "/both", &[(header::AUTHORIZATION, &value)]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.text(), "jti-admin jti-admin");
}

#[tokio::test]
async fn optional_extractor_is_none_without_credentials_but_refuses_bad_tokens() {
    let f = fixture();
    let anonymous = send(f.app(), "/maybe", &[]).await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert_eq!(anonymous.text(), "anonymous");
    let known = send(
        f.app(),
        "/maybe",
        &[(header::AUTHORIZATION, &bearer(&f.token(&[])))],
    )
    .await;
    assert_eq!(known.text(), "user-1");
    let bad = send(
        f.app(),
        "/maybe",
        &[(header::AUTHORIZATION, &bearer(&forged_token(&f)))],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.www_authenticate(), Some(INVALID_TOKEN));
}

#[tokio::test]
async fn realm_is_configurable_and_cannot_inject_header_syntax() {
    let f = fixture();
    let auth = Auth::new(Arc::clone(&f.verifier)).with_realm("api \"prod\"\r\nX-Evil: 1");
    let answer = send(app(auth), "/me", &[]).await;
    assert_eq!(
        answer.www_authenticate(),
        Some(r#"Bearer realm="api \"prod\"X-Evil: 1""#)
    );
}

#[derive(Clone)]
struct AppState {
    auth: Arc<Auth>,
    name: &'static str,
}

impl FromRef<AppState> for Arc<Auth> {
    fn from_ref(state: &AppState) -> Arc<Auth> {
        Arc::clone(&state.auth)
    }
}

#[tokio::test]
async fn auth_comes_from_a_larger_app_state() {
    let f = fixture();
    let state = AppState {
        auth: Arc::new(Auth::new(Arc::clone(&f.verifier))),
        name: "shop",
    };
    let router = Router::new()
        .route(
            "/me",
            get(
                |axum::extract::State(state): axum::extract::State<AppState>,
                 user: Authenticated| async move {
                    format!("{} {}", state.name, user.claims.sub)
                },
            ),
        )
        .with_state(state);
    let answer = send(
        router,
        "/me",
        &[(header::AUTHORIZATION, &bearer(&f.token(&[])))],
    )
    .await;
    assert_eq!(answer.text(), "shop user-1");
}

async fn other_audience_gate(
    _user: Authenticated,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    next.run(request).await
}

/// A verdict reached by a middleware under another configuration (another audience) is not
/// reused by the handler's extractor.
#[tokio::test]
async fn a_verdict_under_another_auth_is_not_reused() {
    let f = fixture();
    let other = Arc::new(Auth::new(Arc::new(Verifier::new(
        KeySet::new(Key::hmac("k1", Algorithm::HS256, &[7u8; 32]).expect("key")).expect("set"),
        Policy::new(ISS, "other"),
    ))));
    let mut claims = claims(&[]);
    claims.aud = Audience::One("other".into());
    let token = f.keys.sign(ACCESS_TOKEN_TYP, &claims).expect("signed");
    let router = f.app().layer(axum::middleware::from_fn_with_state(
        other,
        other_audience_gate,
    ));

    let answer = send(router, "/me", &[(header::AUTHORIZATION, &bearer(&token))]).await;

    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.www_authenticate(), Some(INVALID_TOKEN));
    assert_eq!(answer.reason(), Some(&Error::WrongAudience));
}

#[tokio::test]
async fn injected_clock_decides_expiry() {
    let f = fixture();
    let token = f.token(&[]);
    let later = now() + 3600;
    let auth = Auth::new(Arc::clone(&f.verifier)).with_clock(Arc::new(move || later));
    let answer = send(
        app(auth),
        "/me",
        &[(header::AUTHORIZATION, &bearer(&token))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.problem_code(), "invalid_token");
    assert_eq!(answer.reason(), Some(&Error::Expired));
}

#[tokio::test]
async fn injected_clock_accepts_a_token_the_wall_clock_would_call_expired() {
    let f = fixture();
    let token = expired_token(&f);
    let then = now() - 2500;
    let auth = Auth::new(Arc::clone(&f.verifier)).with_clock(Arc::new(move || then));
    let answer = send(
        app(auth),
        "/me",
        &[(header::AUTHORIZATION, &bearer(&token))],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.text(), "user-1 via bearer");
}
