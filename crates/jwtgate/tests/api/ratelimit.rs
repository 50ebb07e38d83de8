//! Per-plan rate limits on `/api/*`: the `RateLimit` headers on success, the 429 that names
//! the plan and its limit, per-user keys, the plan claim deciding the limit, and the off switch.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::admin::{send, sign_in, sign_in_admin};
use crate::helpers::{TestApp, problem, spawn_app_with};

async fn limited_app(spec: &str) -> TestApp {
    let limits = spec.parse().expect("rate limits");
    spawn_app_with(|s| s.rate_limits = limits).await
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn successful_api_responses_carry_the_ratelimit_headers() {
    let app = limited_app("free=3,pro=600").await;
    let user = sign_in(&app, "ada@example.com").await;
    let response = app.get_bearer("/api/me", &user.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "ratelimit-policy"),
        Some("\"free\";q=3;w=60")
    );
    assert_eq!(header(&response, "ratelimit"), Some("\"free\";r=2;t=20"));
}

#[tokio::test]
async fn going_over_the_plan_limit_is_a_429_naming_the_plan_with_retry_after() {
    let app = limited_app("free=3,pro=600").await;
    let user = sign_in(&app, "ada@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            app.get_bearer("/api/me", &user.access).await.status(),
            StatusCode::OK
        );
    }
    let refused = app.get_bearer("/api/me", &user.access).await;
    assert_eq!(header(&refused, "retry-after"), Some("20"));
    assert_eq!(
        header(&refused, "ratelimit-policy"),
        Some("\"free\";q=3;w=60")
    );
    assert_eq!(header(&refused, "ratelimit"), Some("\"free\";r=0;t=20"));
    let (status, code, body) = problem(refused).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    let detail = body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("free plan allows 3 requests a minute"),
        "{detail}"
    );

    // Another user has their own allowance.
    let other = sign_in(&app, "bob@example.com").await;
    assert_eq!(
        app.get_bearer("/api/me", &other.access).await.status(),
        StatusCode::OK
    );

    // One slot comes back after 60/3 seconds: no sleeping, the clock is moved.
    app.clock.advance(20);
    assert_eq!(
        app.get_bearer("/api/me", &user.access).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_plan_claim_decides_the_limit_after_the_next_refresh() {
    let app = limited_app("free=2,pro=600").await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let user = sign_in(&app, "ada@example.com").await;
    let response = send(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{}/plan", user.id),
        &admin.access,
        Some(json!({"plan": "pro"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed: serde_json::Value = app.refresh(&user.refresh).await.json().await.expect("json");
    let token = refreshed["access_token"].as_str().expect("at");
    for _ in 0..5 {
        let response = app.get_bearer("/api/me", token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "ratelimit-policy"),
            Some("\"pro\";q=600;w=60")
        );
    }
}

#[tokio::test]
async fn rate_limits_off_sends_no_headers_and_refuses_nothing() {
    let app = limited_app("off").await;
    let user = sign_in(&app, "ada@example.com").await;
    for _ in 0..100 {
        let response = app.get_bearer("/api/me", &user.access).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(header(&response, "ratelimit").is_none());
    }
}

#[tokio::test]
async fn requests_outside_api_are_not_rate_limited() {
    let app = limited_app("free=1").await;
    let user = sign_in(&app, "ada@example.com").await;
    assert_eq!(
        app.get_bearer("/api/me", &user.access).await.status(),
        StatusCode::OK
    );
    let response = app.get_bearer("/.well-known/jwks.json", &user.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "ratelimit").is_none());
}
