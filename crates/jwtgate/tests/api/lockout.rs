//! Lockout must not be a weapon: a device that has signed in to an account before keeps
//! signing in while an attacker holds the account locked for everyone else (OWASP's device
//! cookies), and a signed-in owner's password change answers to its own session's throttle.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, cookie_value, problem, set_cookies, spawn_app, spawn_app_with,
};
use crate::outbox::s;

const DEVICE: &str = "__Host-jwtgate_device";

async fn login_with(
    app: &TestApp,
    email: &str,
    password: &str,
    device: Option<&str>,
) -> reqwest::Response {
    let mut body = json!({"email": email, "password": password});
    if let Some(device) = device {
        body["device_token"] = json!(device);
    }
    app.post_json("/auth/login", &body).await
}

async fn expect_throttled(response: reqwest::Response, limit: &str) {
    let (status, code, body) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
    );
    assert!(
        body["detail"].as_str().unwrap_or_default().contains(limit),
        "{body}"
    );
}

/// The attacker: wrong guesses until the account is locked for anonymous clients.
async fn lock_out(app: &TestApp, email: &str) {
    for _ in 0..5 {
        login_with(app, email, "a wrong guess here", None).await;
    }
    expect_throttled(
        login_with(app, email, "another guess", None).await,
        "account",
    )
    .await;
}

#[tokio::test]
async fn the_owner_signs_in_from_a_known_device_while_the_account_is_locked() {
    let app = spawn_app().await;
    let first = app.signed_in("ada@example.com").await;
    let device = s(&first, "device_token");
    lock_out(&app, "ada@example.com").await;
    // The lockout holds for anyone without the device token, the right password included.
    expect_throttled(
        login_with(&app, "ada@example.com", PASSWORD, None).await,
        "account",
    )
    .await;
    for round in 0..3 {
        let response = login_with(&app, "ada@example.com", PASSWORD, Some(&device)).await;
        assert_eq!(response.status(), StatusCode::OK, "round {round}");
        let body: Value = response.json().await.expect("json");
        assert!(body["device_token"].is_string());
        // Meanwhile the attack goes on.
        expect_throttled(
            login_with(&app, "ada@example.com", "guess", None).await,
            "account",
        )
        .await;
    }
}

#[tokio::test]
async fn a_browser_keeps_its_device_cookie_and_signs_in_through_a_lockout() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let cookie_login = |cookie: Option<String>| {
        let mut request = app.client.post(app.url("/auth/login")).json(
            &json!({"email": "ada@example.com", "password": PASSWORD, "transport": "cookie"}),
        );
        if let Some(c) = cookie {
            request = request.header("cookie", c);
        }
        request.send()
    };
    let response = cookie_login(None).await.expect("login");
    let cookies = set_cookies(&response);
    let device = &cookies[DEVICE];
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/;",
        "Max-Age=31536000",
    ] {
        assert!(device.contains(attribute), "{device} lacks {attribute}");
    }
    let body: Value = response.json().await.expect("json");
    assert!(
        body.get("device_token").is_none(),
        "no token in a cookie sign-in's body"
    );
    // Signing out keeps the device cookie: it marks the browser, not the session.
    let out = app
        .client
        .post(app.url("/auth/logout"))
        .header(
            "cookie",
            format!(
                "__Host-jwtgate_at={}",
                cookie_value(&cookies["__Host-jwtgate_at"])
            ),
        )
        .header("x-csrf-token", s(&body, "csrf_token"))
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    assert!(!set_cookies(&out).contains_key(DEVICE));

    lock_out(&app, "ada@example.com").await;
    let again = cookie_login(Some(format!("{DEVICE}={}", cookie_value(device))))
        .await
        .expect("login");
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_device_token_vouches_for_its_own_account_only_and_has_its_own_limit() {
    let app = spawn_app().await;
    let ada = app.signed_in("ada@example.com").await;
    app.signed_in("bob@example.com").await;
    let ada_device = s(&ada, "device_token");
    lock_out(&app, "bob@example.com").await;
    // Ada's device is nobody to Bob's account.
    expect_throttled(
        login_with(&app, "bob@example.com", PASSWORD, Some(&ada_device)).await,
        "account",
    )
    .await;
    // A forged or tampered token is nobody either.
    let forged = format!("{}x", &ada_device[..ada_device.len() - 1]);
    expect_throttled(
        login_with(&app, "bob@example.com", PASSWORD, Some(&forged)).await,
        "account",
    )
    .await;
    // A stolen device token buys its thief no more guesses than anyone: its own five.
    for _ in 0..5 {
        let wrong = login_with(
            &app,
            "ada@example.com",
            "a wrong guess here",
            Some(&ada_device),
        )
        .await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    expect_throttled(
        login_with(&app, "ada@example.com", PASSWORD, Some(&ada_device)).await,
        "device",
    )
    .await;
    // And its failures are not the account's: Ada's other devices and anonymous sign-ins
    // are untouched.
    assert_eq!(
        login_with(&app, "ada@example.com", PASSWORD, None)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_password_change_answers_to_its_session_never_to_the_login_lockout() {
    let app = spawn_app().await;
    let here = app.signed_in("ada@example.com").await;
    let token = s(&here, "access_token");
    let change = |current: &'static str| {
        let body =
            json!({"current_password": current, "new_password": "a brand new passphrase for ada"});
        let (app, token) = (&app, &token);
        async move { app.post_bearer("/auth/password/change", token, &body).await }
    };
    // Its own session's throttle: five wrong current passwords, then a pause...
    for _ in 0..5 {
        let (status, code, _) = problem(change("not my password").await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "wrong_password")
        );
    }
    expect_throttled(change(PASSWORD).await, "session").await;
    // ...which is not a login lockout.
    assert_eq!(
        login_with(&app, "ada@example.com", PASSWORD, None)
            .await
            .status(),
        StatusCode::OK
    );

    // The other way round: an attacker's lockout does not stop the owner's change.
    app.clock.advance(900);
    lock_out(&app, "ada@example.com").await;
    let fresh = s(
        &app.refresh(&s(&here, "refresh_token"))
            .await
            .json::<Value>()
            .await
            .expect("json"),
        "access_token",
    );
    let response = app
        .post_bearer(
            "/auth/password/change",
            &fresh,
            &json!({"current_password": PASSWORD, "new_password": "a brand new passphrase for ada"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// A flood of refused sign-ins costs the server next to nothing: past the first ten refusals an
/// address's refusals wait, each longer than the one before (20 ms more each, up to 2 s), so a
/// client that resends the moment it hears "no" slows itself down. The answer is unchanged.
#[tokio::test]
async fn refusals_to_an_address_that_keeps_coming_back_are_held_longer_each_time() {
    let app = spawn_app_with(|s| s.refusal_delay_max_ms = 2000).await;
    let email = "ada@example.com";
    app.register(email).await;
    lock_out(&app, email).await; // the first refusal
    let mut held = Vec::new();
    for _ in 0..15 {
        let started = std::time::Instant::now();
        let response = login_with(&app, email, "another guess", None).await;
        held.push(started.elapsed());
        assert!(response.headers().contains_key("retry-after"));
        expect_throttled(response, "account").await;
    }
    // Refusals 11 to 16 were held about 20, 40, … 120 ms: at least 80% of it, as the debt
    // decays a little while the test runs (a lower bound, so a slow machine cannot fail it).
    for (i, wait) in held[9..].iter().enumerate() {
        let least = std::time::Duration::from_millis(16 * (i as u64 + 1));
        assert!(*wait >= least, "refusal {}: {wait:?} < {least:?}", i + 11);
    }
    // A request that is served is not held, and the owner's device is not refused at all.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}
