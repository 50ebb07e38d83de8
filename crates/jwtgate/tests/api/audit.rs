//! The audit log: events of each flow, no secrets in any row, the user's own activity (paged),
//! and the administrators' view.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, problem, spawn_app};
use crate::outbox::s;

const NEW_PASSWORD: &str = "a brand new passphrase for ada";

async fn activity(app: &TestApp, access: &str, query: &str) -> Value {
    let response = app
        .get_bearer(&format!("/auth/activity{query}"), access)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

fn events(page: &Value) -> Vec<(String, String)> {
    page["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| (s(e, "event"), s(e, "outcome")))
        .collect()
}

#[tokio::test]
async fn a_full_flow_is_audited_and_no_row_holds_a_password_or_a_token() {
    let app = spawn_app().await;
    let mut secrets = vec![
        PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        "wrong password here".to_owned(),
    ];
    let first = app.signed_in("ada@example.com").await;
    let verify = app.verify_token_for("ada@example.com").await;
    app.post_json("/auth/email/verify", &json!({"token": verify}))
        .await;
    app.login("ada@example.com", "wrong password here").await;
    app.login("ghost@example.com", "wrong password here").await;
    let refreshed: Value = app
        .refresh(&s(&first, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    app.clock.advance(60);
    let onwards: Value = app
        .refresh(&s(&refreshed, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    app.refresh(&s(&first, "refresh_token")).await; // reuse after the successor was used
    let second = app.login_as("ada@example.com", "curl/8").await;
    app.post_bearer(
        "/auth/password/change",
        &s(&second, "access_token"),
        &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await;
    let reset = app.reset_token_for("ada@example.com").await;
    app.post_json(
        "/auth/password/reset",
        &json!({"token": reset, "new_password": PASSWORD}),
    )
    .await;
    let third = app.login_as("ada@example.com", "curl/8").await;
    app.logout(&s(&third, "access_token")).await;
    for v in [&first, &refreshed, &onwards, &second, &third] {
        secrets.push(s(v, "access_token"));
        secrets.push(s(v, "refresh_token"));
    }
    secrets.push(verify);
    secrets.push(reset);

    let rows = app
        .store()
        .audit_page(None, None, 10_000)
        .await
        .expect("rows");
    let text: Vec<String> = rows
        .iter()
        .map(|r| {
            let f = |v: &Option<String>| v.clone().unwrap_or_default();
            [
                f(&r.actor_id),
                f(&r.subject_id),
                f(&r.ip),
                r.event.clone(),
                r.outcome.clone(),
                f(&r.detail),
            ]
            .join("|")
        })
        .collect();
    for row in &text {
        for secret in &secrets {
            assert!(
                !row.contains(secret.as_str()),
                "audit row {row:?} holds a secret"
            );
        }
    }
    let seen: Vec<String> = rows
        .iter()
        .map(|r| format!("{}:{}", r.event, r.outcome))
        .collect();
    for expected in [
        "register:success",
        "login:success",
        "login:failure",
        "email_verified:success",
        "refresh_token_reused:failure",
        "password_change:success",
        "password_reset_requested:success",
        "password_reset:success",
        "logout:success",
    ] {
        assert!(
            seen.iter().any(|e| e == expected),
            "{expected} missing from {seen:?}"
        );
    }
    // The unknown address was recorded without inventing a user id.
    let ghost = text
        .iter()
        .find(|r| r.contains("ghost@example.com"))
        .expect("ghost row");
    assert!(ghost.starts_with("||127.0.0.1|login|failure|"), "{ghost}");
    // Every row of a request names the address it came from, registration included.
    let register = text
        .iter()
        .find(|r| r.contains("|register|"))
        .expect("register row");
    assert!(
        register.contains("|127.0.0.1|register|success|"),
        "{register}"
    );
    let (_, users) = app.store().list_users("", 1, 0).await.expect("count");
    assert_eq!(users, 1);
}

#[tokio::test]
async fn activity_pages_newest_first_and_shows_only_the_callers_events() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    app.signed_in("bob@example.com").await;
    for _ in 0..3 {
        app.clock.advance(1);
        app.login("ada@example.com", PASSWORD).await;
    }
    // register + 4 logins
    let access = s(&login, "access_token");
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = activity(&app, &access, &query).await;
        pages += 1;
        for e in page["events"].as_array().expect("events") {
            assert_ne!(e["subject_id"], Value::Null);
            seen.push((e["id"].as_i64().expect("id"), e["at"].as_i64().expect("at")));
        }
        match page["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=2&before={c}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    assert!(seen.windows(2).all(|w| w[0].0 > w[1].0 && w[0].1 >= w[1].1));
    let newest = activity(&app, &access, "?limit=1").await;
    assert_eq!(
        events(&newest),
        vec![("login".to_owned(), "success".to_owned())]
    );
    assert_eq!(newest["events"][0]["ip"], "127.0.0.1");
}

#[tokio::test]
async fn activity_refuses_a_bad_cursor_or_limit() {
    let app = spawn_app().await;
    let access = s(&app.signed_in("ada@example.com").await, "access_token");
    for q in ["?before=abc", "?limit=0", "?limit=1000", "?limit=x"] {
        let (status, code, _) =
            problem(app.get_bearer(&format!("/auth/activity{q}"), &access).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_query"),
            "{q}"
        );
    }
}

#[tokio::test]
async fn the_admin_audit_view_is_for_administrators_only() {
    let app = spawn_app().await;
    let ada = app.signed_in("ada@example.com").await;
    app.signed_in("bob@example.com").await;

    let (status, code, _) = problem(app.get("/api/admin/audit").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "missing_credentials")
    );
    let (status, code, _) = problem(
        app.get_bearer("/api/admin/audit", &s(&ada, "access_token"))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );

    app.store()
        .test_sql("UPDATE users SET roles = '[\"admin\"]' WHERE email = 'ada@example.com'")
        .await
        .expect("promote");
    let admin: Value = app
        .login("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let response = app
        .get_bearer("/api/admin/audit?limit=100", &s(&admin, "access_token"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.expect("json");
    let subjects: std::collections::HashSet<String> = page["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["subject_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(subjects.len(), 2, "both users' events");
    assert_eq!(page["next_cursor"], Value::Null);
}
