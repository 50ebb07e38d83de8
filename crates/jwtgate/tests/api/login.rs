//! Login: token response, identical failures, throttling, production Argon2 and rehash, 503 when saturated.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn login_answers_the_oauth_token_response_shape() {
    let app = spawn_app().await;
    let body = app.signed_in("ada@example.com").await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3)
    );
    assert!(
        body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() == 43)
    );
    assert_eq!(body["user"]["email"], "ada@example.com");
}

#[tokio::test]
async fn login_responses_are_never_cached() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let response = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let wrong_password = app
        .login("ada@example.com", "not the password at all")
        .await;
    let unknown_email = app.login("bob@example.com", PASSWORD).await;
    for response in [wrong_password, unknown_email] {
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"jwtgate\""
        );
        let (status, code, body) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
        assert_eq!(body["detail"], "email or password is wrong");
    }
}

#[tokio::test]
async fn repeated_failures_throttle_the_account_with_retry_after() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            app.login("ada@example.com", "wrong wrong wrong")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Even the right password is refused while the lockout runs (it would confirm the guess).
    let response = app.login("ada@example.com", PASSWORD).await;
    let retry_after: i64 = response.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("secs");
    let (status, code, body) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("account")
    );
    assert_eq!(retry_after, 15);

    // The lockout is temporary: once it has passed, the real user gets in and the counter resets.
    app.clock.advance(retry_after);
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("ada@example.com", "wrong wrong wrong")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn many_accounts_from_one_ip_trip_the_ip_limit() {
    let app = spawn_app_with(|s| s.login_free_attempts_ip = 3).await;
    for i in 0..3 {
        app.login(&format!("user{i}@example.com"), "whatever it is")
            .await;
    }
    let (status, code, body) = problem(app.login("other@example.com", PASSWORD).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
    );
    assert!(body["detail"].as_str().unwrap_or_default().contains("ip"));
}

/// Ada's stored password hash, read through the store.
async fn password_hash(app: &crate::helpers::TestApp) -> String {
    app.store()
        .user_by_email("ada@example.com")
        .await
        .expect("query")
        .expect("ada")
        .password_hash
}

#[tokio::test]
async fn login_with_production_argon2_parameters_works_and_upgrades_old_hashes() {
    // Arrange: an account hashed with the cheap test parameters.
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let old_hash = password_hash(&app).await;
    assert!(old_hash.contains("m=64,t=1"), "{old_hash}");

    // Act: restart with the OWASP parameters (the production defaults) and log in.
    let mut app = app;
    let defaults = jwtgate::Settings::default();
    app.settings.argon2_memory_kib = defaults.argon2_memory_kib;
    app.settings.argon2_iterations = defaults.argon2_iterations;
    app.settings.allow_weak_password_hashing = false;
    let app = app.restart().await;
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );

    // Assert: the stored hash now carries the configured parameters, and still verifies.
    let new_hash = password_hash(&app).await;
    assert!(
        new_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{new_hash}"
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// Production Argon2 cost on one hashing thread with `queue` places behind it, and failure
/// throttles out of the way, so floods meet the hashing pool and nothing else.
fn one_real_hashing_thread(s: &mut jwtgate::Settings, queue: usize) {
    let d = jwtgate::Settings::default();
    s.argon2_memory_kib = d.argon2_memory_kib;
    s.argon2_iterations = d.argon2_iterations;
    s.hash_workers = 1;
    s.hash_queue = queue;
    s.login_free_attempts_ip = 1000;
    s.login_free_attempts_account = 1000;
}

#[tokio::test]
async fn a_flood_of_logins_is_refused_with_503_server_busy_not_queued_forever() {
    let app = spawn_app_with(|s| one_real_hashing_thread(s, 1)).await;
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let app = app.clone();
        tasks.spawn(async move {
            let response = app
                .post_json(
                    "/auth/login",
                    &json!({"email": format!("u{i}@example.com"), "password": PASSWORD}),
                )
                .await;
            let retry_after = response.headers().get("retry-after").is_some();
            let status = response.status();
            let body: Value = response.json().await.unwrap_or_default();
            (
                status,
                body["code"].as_str().unwrap_or_default().to_owned(),
                retry_after,
            )
        });
    }
    let results = tasks.join_all().await;
    let busy: Vec<_> = results
        .iter()
        .filter(|r| r.0 == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!busy.is_empty(), "{results:?}");
    assert!(
        busy.iter().all(|r| r.1 == "server_busy" && r.2),
        "{results:?}"
    );
    assert!(
        results.iter().any(|r| r.0 == StatusCode::UNAUTHORIZED),
        "{results:?}"
    );
}

/// Floods `path` from one address (12 requests at once, with bodies from `body`), and once the
/// flood has been turned away with 503 somewhere, sends one request from another address and
/// returns its (status, code). The app has 8 hashing places; one address may hold 2 of them.
async fn other_address_during_a_flood(
    path: &'static str,
    body: fn(usize) -> Value,
) -> (StatusCode, String) {
    let app = spawn_app_with(|s| {
        one_real_hashing_thread(s, 7);
        s.trust_proxy_headers = true;
    })
    .await;
    let app = std::sync::Arc::new(app);
    let send = |ip: &'static str, i: usize| {
        let app = app.clone();
        async move {
            let response = app
                .client
                .post(app.url(path))
                .header("x-forwarded-for", ip)
                .json(&body(i))
                .send()
                .await
                .expect("request");
            let status = response.status();
            let body: Value = response.json().await.unwrap_or_default();
            (status, body["code"].as_str().unwrap_or_default().to_owned())
        }
    };
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..12 {
        flood.spawn(send("203.0.113.1", i));
    }
    // Without the per-address share the flood would now hold all 8 places for several hashes.
    let mut seen = Vec::new();
    while let Some(result) = flood.join_next().await {
        let result = result.expect("join");
        let busy = result.0 == StatusCode::SERVICE_UNAVAILABLE;
        seen.push(result);
        if busy {
            break;
        }
    }
    assert_eq!(
        seen.last().map(|r| (r.0, r.1.as_str())),
        Some((StatusCode::SERVICE_UNAVAILABLE, "server_busy")),
        "{seen:?}"
    );
    let other = send("198.51.100.7", 99).await;
    flood.join_all().await;
    other
}

#[tokio::test]
async fn one_address_flooding_logins_leaves_places_for_the_others() {
    let other = other_address_during_a_flood(
        "/auth/login",
        |i| json!({"email": format!("u{i}@example.com"), "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (other.0, other.1.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
}

#[tokio::test]
async fn one_address_flooding_registrations_leaves_places_for_the_others() {
    let other = other_address_during_a_flood(
        "/auth/register",
        |i| json!({"email": format!("new{i}@example.com"), "password": PASSWORD}),
    )
    .await;
    assert_eq!((other.0, other.1.as_str()), (StatusCode::CREATED, ""));
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_proxy_headers_are_trusted() {
    for (trusted, expect_throttled) in [(false, true), (true, false)] {
        let app = spawn_app_with(|s| {
            s.login_free_attempts_ip = 2;
            s.trust_proxy_headers = trusted;
        })
        .await;
        for i in 0..3 {
            let response = app
                .client
                .post(app.url("/auth/login"))
                .header("x-forwarded-for", format!("203.0.113.{i}"))
                .json(&json!({"email": format!("u{i}@example.com"), "password": PASSWORD}))
                .send()
                .await
                .expect("request");
            if i == 2 {
                let throttled = response.status() == StatusCode::TOO_MANY_REQUESTS;
                assert_eq!(throttled, expect_throttled, "trusted={trusted}");
            }
        }
    }
}

#[tokio::test]
async fn a_sign_in_beyond_the_session_cap_ends_the_session_used_longest_ago() {
    let app = spawn_app_with(|s| s.max_sessions_per_user = 3).await;
    let first = app.signed_in("ada@example.com").await;
    let mut later = Vec::new();
    for _ in 0..2 {
        app.clock.advance(10);
        later.push(
            app.login("ada@example.com", PASSWORD)
                .await
                .json::<Value>()
                .await
                .expect("json"),
        );
    }
    // The first session is used again: now the second is the one used longest ago.
    app.clock.advance(10);
    let first: Value = app
        .refresh(first["refresh_token"].as_str().expect("rt"))
        .await
        .json()
        .await
        .expect("json");
    app.clock.advance(10);
    let newest: Value = app
        .login("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");

    let second = &later[0];
    let (status, code, _) = problem(
        app.get_bearer("/api/me", second["access_token"].as_str().expect("at"))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (status, code, _) = problem(
        app.refresh(second["refresh_token"].as_str().expect("rt"))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "session_limit")
    );
    for kept in [&first, &later[1], &newest] {
        let at = kept["access_token"].as_str().expect("at");
        assert_eq!(app.get_bearer("/api/me", at).await.status(), StatusCode::OK);
    }
    let list: Value = app
        .get_bearer(
            "/auth/sessions",
            newest["access_token"].as_str().expect("at"),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["sessions"].as_array().map(Vec::len), Some(3));
}

#[tokio::test]
async fn successful_sign_ins_of_one_account_are_capped_per_minute() {
    let app = spawn_app_with(|s| s.login_successes_per_minute = 3).await;
    app.signed_in("ada@example.com").await;
    for _ in 0..2 {
        assert_eq!(
            app.login("ada@example.com", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    let response = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(response.headers()["retry-after"], "60");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_sign_ins")
    );
    // Another account is not affected, and the cap is per minute.
    app.signed_in("bob@example.com").await;
    app.clock.advance(60);
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

// Several worker threads: the sign-ins really race for the last places.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sign_ins_cannot_exceed_the_cap_together() {
    let app = spawn_app_with(|s| {
        s.login_successes_per_minute = 5;
        s.hash_workers = 4;
        // Room for all twenty in the hashing queue and in this address's share of it.
        s.hash_queue = 100;
    })
    .await;
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (client, url) = (app.client.clone(), app.url("/auth/login"));
        logins.spawn(async move {
            let body = json!({"email": "ada@example.com", "password": PASSWORD});
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("login")
                .status()
        });
    }
    let statuses = logins.join_all().await;
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let capped = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((ok, capped), (5, 15), "{statuses:?}");
}
