//! Health, readiness, security headers, fallbacks, and no 5xx for client mistakes.
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{problem, spawn_app};

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.expect("json");
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/healthz", "/does-not-exist", "/.well-known/jwks.json"] {
        let response = app.get(path).await;
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
        assert_eq!(
            response.headers()["referrer-policy"],
            "no-referrer",
            "{path}"
        );
    }
    let response = app.get("/auth/csrf").await;
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn unknown_paths_and_methods_get_problem_json() {
    let app = spawn_app().await;
    let (status, code, _) = problem(app.get("/nope").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, code, _) = problem(app.get("/auth/login").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

#[tokio::test]
async fn client_mistakes_never_produce_a_server_error() {
    let app = spawn_app().await;
    let bodies: [&[u8]; 7] = [
        b"",
        b"{",
        b"null",
        b"[]",
        b"{\"email\":1}",
        b"\xff\xfe",
        b"{\"email\":\"a\",\"password\":\"b\",\"transport\":\"carrier-pigeon\"}",
    ];
    for path in [
        "/auth/register",
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
    ] {
        for body in bodies {
            for content_type in ["application/json", "text/plain"] {
                let response = app
                    .client
                    .post(app.url(path))
                    .header("content-type", content_type)
                    .header("authorization", "Bearer not.a.jwt")
                    .body(body.to_vec())
                    .send()
                    .await
                    .expect("request");
                assert!(
                    response.status().is_client_error(),
                    "{path} {content_type} {body:?}: {}",
                    response.status()
                );
            }
        }
    }
}
