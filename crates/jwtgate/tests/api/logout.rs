//! Logout: immediate revocation, end reasons, and revocation surviving a restart.
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{problem, spawn_app};

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().expect(key).to_owned()
}

#[tokio::test]
async fn logout_revokes_the_access_token_at_once() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let access = s(&login, "access_token");
    assert_eq!(
        app.get_bearer("/api/me", &access).await.status(),
        StatusCode::OK
    );

    let response = app.logout(&access).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.headers()["cache-control"], "no-store");

    let (status, code, _) = problem(app.get_bearer("/api/me", &access).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn refresh_after_logout_answers_the_end_reason() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    app.logout(&s(&login, "access_token")).await;
    let (status, code, _) = problem(app.refresh(&s(&login, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "logout")
    );
}

#[tokio::test]
async fn logout_ends_only_the_callers_session() {
    let app = spawn_app().await;
    let first = app.signed_in("ada@example.com").await;
    let second: Value = app
        .login("ada@example.com", crate::helpers::PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    app.logout(&s(&first, "access_token")).await;
    assert_eq!(
        app.get_bearer("/api/me", &s(&second, "access_token"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.refresh(&s(&second, "refresh_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_with_the_refresh_token_alone_works() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let response = app
        .post_json(
            "/auth/logout",
            &serde_json::json!({"refresh_token": s(&login, "refresh_token")}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, code, _) =
        problem(app.get_bearer("/api/me", &s(&login, "access_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn a_restart_keeps_the_revocation() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let access = s(&login, "access_token");
    assert_eq!(app.logout(&access).await.status(), StatusCode::NO_CONTENT);

    let app = app.restart().await;

    let (status, code, _) = problem(app.get_bearer("/api/me", &access).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn a_restart_keeps_a_reuse_revocation() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let next: Value = app
        .refresh(&s(&login, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    app.clock.advance(30);
    app.refresh(&s(&next, "refresh_token")).await;
    app.refresh(&s(&login, "refresh_token")).await;
    let app = app.restart().await;
    let (status, code, _) =
        problem(app.get_bearer("/api/me", &s(&next, "access_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn logout_without_credentials_is_a_401() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/auth/logout"))
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "missing_credentials")
    );
}

#[tokio::test]
async fn logout_with_a_rotated_refresh_token_is_reuse_and_chooses_no_scope() {
    let app = spawn_app().await;
    let stolen = app.signed_in("ada@example.com").await;
    let elsewhere: Value = app
        .login("ada@example.com", crate::helpers::PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let next: Value = app
        .refresh(&s(&stolen, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    app.clock.advance(60);

    // Someone replays the spent token to sign the user out everywhere.
    for scope in ["all", "others"] {
        let (status, code, _) = problem(
            app.post_json(
                "/auth/logout",
                &serde_json::json!({"refresh_token": s(&stolen, "refresh_token"), "scope": scope}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "refresh_token_reused"),
            "{scope}"
        );
    }
    // The replayed chain is over, as for any reuse...
    let (status, code, _) =
        problem(app.get_bearer("/api/me", &s(&next, "access_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    // ...and the user's other session is untouched.
    let other = s(&elsewhere, "access_token");
    assert_eq!(
        app.get_bearer("/api/me", &other).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.refresh(&s(&elsewhere, "refresh_token")).await.status(),
        StatusCode::OK
    );
    // The audit trail calls it what it was.
    let activity: Value = app
        .get_bearer("/auth/activity", &other)
        .await
        .json()
        .await
        .expect("json");
    let events: Vec<&str> = activity["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default())
        .collect();
    assert!(events.contains(&"refresh_token_reused"), "{events:?}");
    assert!(!events.contains(&"logout"), "{events:?}");
}
