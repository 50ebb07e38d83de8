//! CORS: preflights answered and credentials allowed for the listed origins only; nothing is
//! reflected for any other origin, and without a list nothing is answered at all.
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, problem, spawn_app, spawn_app_with};

const APP: &str = "https://app.example.com";

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/auth/login"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-csrf-token",
        )
        .send()
        .await
        .expect("preflight")
}

#[tokio::test]
async fn a_listed_origin_gets_its_preflight_and_credentials_and_no_other_origin_does() {
    let app = spawn_app_with(|s| s.cors_origins = vec![APP.to_owned()]).await;
    let answer = preflight(&app, APP).await;
    assert!(answer.status().is_success(), "{}", answer.status());
    let headers = answer.headers();
    assert_eq!(headers["access-control-allow-origin"], APP);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .expect("ascii");
    assert!(
        allowed.contains("content-type") && allowed.contains("x-csrf-token"),
        "{allowed}"
    );
    assert!(
        headers["vary"]
            .to_str()
            .expect("ascii")
            .to_ascii_lowercase()
            .contains("origin")
    );

    // Nothing names another origin: without Access-Control-Allow-Origin its page reads nothing.
    let evil = preflight(&app, "https://evil.example").await;
    assert!(evil.headers().get("access-control-allow-origin").is_none());

    app.register("ada@example.com").await;
    for (origin, allowed) in [(APP, true), ("https://evil.example", false)] {
        let response = app
            .client
            .post(app.url("/auth/login"))
            .header("origin", origin)
            .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), StatusCode::OK);
        let reflected = response.headers().get("access-control-allow-origin");
        assert_eq!(reflected.is_some(), allowed, "{origin}");
    }
    // A listed origin may also sign in with cookies (login CSRF allows it by name).
    let cookie = app
        .client
        .post(app.url("/auth/login"))
        .header("origin", APP)
        .header("sec-fetch-site", "same-site")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD, "transport": "cookie"}))
        .send()
        .await
        .expect("login");
    assert_eq!(cookie.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_listed_origins_a_preflight_is_refused_with_a_problem() {
    let app = spawn_app().await;
    let answer = preflight(&app, APP).await;
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let (status, code, _) = problem(answer).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}
