//! Browser transport: cookie attributes, CSRF on cookie-authenticated state changes, cookie refresh and logout.
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, cookie_value, problem, set_cookies, spawn_app};

const AT: &str = "__Host-jwtgate_at";
const RT: &str = "__Secure-jwtgate_rt";

struct Browser {
    access: String,
    refresh: String,
    csrf: String,
}

async fn cookie_login(app: &TestApp) -> (Response, Browser) {
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let response = app
        .post_json(
            "/auth/login",
            &json!({"email": "ada@example.com", "password": PASSWORD, "transport": "cookie"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    let browser = Browser {
        access: cookie_value(&cookies[AT]),
        refresh: cookie_value(&cookies[RT]),
        csrf: String::new(),
    };
    (response, browser)
}

async fn logged_in(app: &TestApp) -> Browser {
    let (response, mut browser) = cookie_login(app).await;
    let body: Value = response.json().await.expect("json");
    browser.csrf = body["csrf_token"].as_str().expect("csrf").to_owned();
    browser
}

fn post_with_cookies(app: &TestApp, path: &str, cookies: &str) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(path))
        .header("cookie", cookies.to_owned())
}

#[tokio::test]
async fn cookie_login_sets_hardened_cookies_and_no_token_in_the_body() {
    let app = spawn_app().await;
    let (response, _) = cookie_login(&app).await;
    let cookies = set_cookies(&response);
    let access = &cookies[AT];
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/;",
        "Max-Age=900",
    ] {
        assert!(access.contains(attribute), "{access} lacks {attribute}");
    }
    let refresh = &cookies[RT];
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/auth",
        "Max-Age=2592000",
    ] {
        assert!(refresh.contains(attribute), "{refresh} lacks {attribute}");
    }
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "cookie");
    assert_eq!(body["expires_in"], 900);
    assert!(body["csrf_token"].is_string());
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    assert_eq!(body["user"]["email"], "ada@example.com");
}

#[tokio::test]
async fn the_access_cookie_authenticates_reads_without_csrf() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let response = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", format!("{AT}={}", browser.access))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let csrf: Value = app
        .client
        .get(app.url("/auth/csrf"))
        .header("cookie", format!("{AT}={}", browser.access))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(csrf["csrf_token"], browser.csrf.as_str());
}

#[tokio::test]
async fn cookie_refresh_without_the_csrf_header_is_a_403() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let response = post_with_cookies(&app, "/auth/refresh", &format!("{RT}={}", browser.refresh))
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );
}

#[tokio::test]
async fn cookie_refresh_with_a_wrong_csrf_header_is_a_403() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let response = post_with_cookies(&app, "/auth/refresh", &format!("{RT}={}", browser.refresh))
        .header(
            "x-csrf-token",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );
}

#[tokio::test]
async fn cookie_refresh_with_csrf_rotates_the_cookies() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    app.clock.advance(60);
    let response = post_with_cookies(&app, "/auth/refresh", &format!("{RT}={}", browser.refresh))
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    assert_ne!(cookie_value(&cookies[RT]), browser.refresh);
    assert_ne!(cookie_value(&cookies[AT]), browser.access);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "cookie");
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn refresh_token_in_body_and_cookie_at_once_is_a_400() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let response = post_with_cookies(&app, "/auth/refresh", &format!("{RT}={}", browser.refresh))
        .header("x-csrf-token", &browser.csrf)
        .json(&json!({"refresh_token": browser.refresh}))
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
async fn cookie_logout_needs_csrf_then_clears_the_cookies_and_revokes() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let cookies = format!("{AT}={}; {RT}={}", browser.access, browser.refresh);

    let (status, code, _) = problem(
        post_with_cookies(&app, "/auth/logout", &cookies)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );

    let response = post_with_cookies(&app, "/auth/logout", &cookies)
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookies(&response);
    assert!(cleared[AT].contains("Max-Age=0") && cleared[AT].starts_with(&format!("{AT}=;")));
    assert!(cleared[RT].contains("Max-Age=0") && cleared[RT].contains("Path=/auth"));

    let response = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", format!("{AT}={}", browser.access))
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn the_csrf_token_can_be_recovered_with_the_refresh_cookie_alone() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let response = app
        .client
        .get(app.url("/auth/csrf"))
        .header("cookie", format!("{RT}={}", browser.refresh))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["csrf_token"], browser.csrf.as_str());
}
