//! Registration and the JSON edge: normalisation, duplicates, weak passwords, 400/413/415/422.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn register_creates_an_account_with_a_normalised_email() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/auth/register",
            &json!({"email": "  Ada@Example.COM ", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["roles"], json!([]));
    assert!(body["user"]["id"].as_str().is_some_and(|id| id.len() == 36));
    assert!(body["user"].get("password_hash").is_none());
    assert_eq!(
        app.login("ADA@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn duplicate_email_is_refused_with_email_taken() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let (status, code, _) = problem(app.register("ADA@example.com").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "email_taken")
    );
}

#[tokio::test]
async fn weak_passwords_are_refused_with_advice() {
    let app = spawn_app().await;
    for password in ["short", "password123", "ada@example.com", &"x".repeat(129)] {
        let response = app
            .post_json(
                "/auth/register",
                &json!({"email": "ada@example.com", "password": password}),
            )
            .await;
        let (status, code, body) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "weak_password")
        );
        assert!(!body["detail"].as_str().unwrap_or_default().is_empty());
    }
}

#[tokio::test]
async fn invalid_email_is_refused() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/auth/register",
            &json!({"email": "not-an-email", "password": PASSWORD}),
        )
        .await;
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email")
    );
}

#[tokio::test]
async fn bad_json_is_a_400_invalid_json() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
}

#[tokio::test]
async fn missing_fields_are_a_422_naming_the_field() {
    let app = spawn_app().await;
    let (status, code, body) = problem(
        app.post_json("/auth/register", &json!({"email": "a@b.co"}))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "missing_field")
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("password")
    );
    let (status, code, _) = problem(
        app.post_json("/auth/register", &json!({"email": 5, "password": PASSWORD}))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
}

#[tokio::test]
async fn wrong_content_type_is_a_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=a%40b.co&password=x")
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
}

#[tokio::test]
async fn oversized_bodies_are_a_413() {
    let app = spawn_app().await;
    let big = json!({"email": "a@b.co", "password": "p".repeat(20 * 1024)});
    let (status, code, _) = problem(app.post_json("/auth/register", &big).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
}

// Several worker threads: the registrations really arrive together.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_registration_exists_and_the_rest_are_told_to_retry() {
    let app = spawn_app_with(|s| {
        s.require_email_verification = true;
        // The probes below sign in once per address, half of them unknown ones.
        s.login_free_attempts_ip = 1000;
        // One hashing thread and a short queue: 40 at once cannot all be taken, so the busy
        // answer is really given (and every acknowledged one gets its mail, below the ration).
        s.hash_workers = 1;
        s.hash_queue = 4;
        s.mail_client_per_hour = 1000;
    })
    .await;
    let mut registrations = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (client, url) = (app.client.clone(), app.url("/auth/register"));
        registrations.spawn(async move {
            let email = format!("user{i}@example.com");
            let body = json!({"email": email, "password": PASSWORD});
            let response = client.post(url).json(&body).send().await.expect("register");
            let status = response.status();
            let retry_after = response.headers().get("retry-after").cloned();
            let code = response
                .json::<Value>()
                .await
                .ok()
                .and_then(|b| b["code"].as_str().map(str::to_owned));
            (email, status, retry_after, code)
        });
    }
    let answers = registrations.join_all().await;
    let (mut accepted, mut busy) = (0, 0);
    for (email, status, retry_after, code) in &answers {
        // A sign-in with the right password tells whether the account exists: 403 (it does,
        // unconfirmed) or 401 (it does not).
        let exists = app.login(email, PASSWORD).await.status() == StatusCode::FORBIDDEN;
        match *status {
            StatusCode::ACCEPTED => {
                accepted += 1;
                assert!(exists, "{email} was acknowledged but does not exist");
                // Queued, not dropped: its verification mail goes out.
                app.verify_token_for(email).await;
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(code.as_deref(), Some("server_busy"), "{email}");
                assert!(retry_after.is_some(), "{email}: 503 without Retry-After");
                assert!(!exists, "{email} was refused but exists");
            }
            other => panic!("{email}: {other}"),
        }
    }
    assert!(accepted >= 1 && busy >= 1, "{answers:?}");
}
