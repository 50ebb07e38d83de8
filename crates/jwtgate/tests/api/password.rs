//! Password change, forgot and reset: single-use reset links, their expiry, and the sessions
//! each flow ends.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, problem, spawn_app};
use crate::outbox::{messages_in, s};

const NEW_PASSWORD: &str = "a brand new passphrase for ada";

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_but_not_this_one() {
    let app = spawn_app().await;
    let here = app.signed_in("ada@example.com").await;
    let there: Value = app
        .login("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");

    let response = app
        .post_bearer(
            "/auth/password/change",
            &s(&here, "access_token"),
            &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed: Value = response.json().await.expect("json");
    assert_eq!(changed["token_type"], "Bearer");
    assert_eq!(changed["expires_in"], 900);

    let (status, code, _) =
        problem(app.get_bearer("/api/me", &s(&there, "access_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (status, code, _) = problem(app.refresh(&s(&there, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "password_changed")
    );
    // Every token issued before the change is cut off, this session's too; the session itself
    // goes on with the token the answer carries, and its refresh token.
    let (status, code, _) =
        problem(app.get_bearer("/api/me", &s(&here, "access_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    assert_eq!(
        app.get_bearer("/api/me", &s(&changed, "access_token"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.refresh(&s(&here, "refresh_token")).await.status(),
        StatusCode::OK
    );
    let (status, code, _) = problem(app.login("ada@example.com", PASSWORD).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_wrong_current_password_is_a_400_wrong_password_and_changes_nothing() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let response = app
        .post_bearer(
            "/auth/password/change",
            &s(&login, "access_token"),
            &json!({"current_password": "not my password", "new_password": NEW_PASSWORD}),
        )
        .await;
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "wrong_password")
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_weak_new_password_is_refused() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let response = app
        .post_bearer(
            "/auth/password/change",
            &s(&login, "access_token"),
            &json!({"current_password": PASSWORD, "new_password": "password1"}),
        )
        .await;
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "weak_password")
    );
}

#[tokio::test]
async fn a_password_change_through_cookies_needs_the_csrf_header() {
    let app = spawn_app().await;
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
    let cookies = crate::helpers::set_cookies(&response);
    let body: Value = response.json().await.expect("json");
    let access = crate::helpers::cookie_value(&cookies["__Host-jwtgate_at"]);
    let send = |csrf: Option<String>| {
        let mut request = app
            .client
            .post(app.url("/auth/password/change"))
            .header("cookie", format!("__Host-jwtgate_at={access}"))
            .json(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}));
        if let Some(c) = csrf {
            request = request.header("x-csrf-token", c);
        }
        request.send()
    };
    let (status, code, _) = problem(send(None).await.expect("request")).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );
    let response = send(Some(s(&body, "csrf_token"))).await.expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    // The new access token comes as the cookie, never in the body.
    let renewed = crate::helpers::set_cookies(&response);
    let access = crate::helpers::cookie_value(&renewed["__Host-jwtgate_at"]);
    let changed: Value = response.json().await.expect("json");
    assert_eq!(changed, json!({"token_type": "cookie", "expires_in": 900}));
    let me = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", format!("__Host-jwtgate_at={access}"))
        .send()
        .await
        .expect("request");
    assert_eq!(me.status(), StatusCode::OK);
}

#[tokio::test]
async fn forgot_answers_202_for_an_unknown_address_and_mails_nobody() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let unknown = app
        .post_json(
            "/auth/password/forgot",
            &json!({"email": "nobody@example.com"}),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    let unknown: Value = unknown.json().await.expect("json");
    // A known address gets the very same answer.
    let known = app
        .post_json(
            "/auth/password/forgot",
            &json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    let known: Value = known.json().await.expect("json");
    assert_eq!(unknown, known);
    crate::outbox::wait_for(
        &app,
        &app.outbox(),
        "ada@example.com",
        "reset-password?token=",
    )
    .await;
    assert!(
        messages_in(&app.outbox())
            .iter()
            .all(|m| !m.contains("nobody@example.com"))
    );
}

#[tokio::test]
async fn a_reset_link_sets_the_password_and_ends_every_session() {
    let app = spawn_app().await;
    let one = app.signed_in("ada@example.com").await;
    let two: Value = app
        .login("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let token = app.reset_token_for("ada@example.com").await;

    let response = app
        .post_json(
            "/auth/password/reset",
            &json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    for session in [&one, &two] {
        let (status, code, _) =
            problem(app.get_bearer("/api/me", &s(session, "access_token")).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
        let (status, code, _) = problem(app.refresh(&s(session, "refresh_token")).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "password_reset")
        );
    }
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_reset_link_used_twice_answers_token_used() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let token = app.reset_token_for("ada@example.com").await;
    let body = json!({"token": token, "new_password": NEW_PASSWORD});
    assert_eq!(
        app.post_json("/auth/password/reset", &body).await.status(),
        StatusCode::NO_CONTENT
    );
    let (status, code, _) = problem(app.post_json("/auth/password/reset", &body).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "token_used")
    );
}

#[tokio::test]
async fn a_second_reset_link_stops_working_once_the_first_is_used() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let first = app.reset_token_for("ada@example.com").await;
    app.clock.advance(61);
    let second = app.reset_token_for("ada@example.com").await;
    assert_ne!(first, second);
    let reset = |t: &str| json!({"token": t, "new_password": NEW_PASSWORD});
    assert_eq!(
        app.post_json("/auth/password/reset", &reset(&first))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (status, code, _) =
        problem(app.post_json("/auth/password/reset", &reset(&second)).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "token_used")
    );
}

#[tokio::test]
async fn an_expired_reset_link_answers_token_expired() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let token = app.reset_token_for("ada@example.com").await;
    app.clock.advance(31 * 60);
    let (status, code, _) = problem(
        app.post_json(
            "/auth/password/reset",
            &json!({"token": token, "new_password": NEW_PASSWORD}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "token_expired")
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_weak_password_does_not_burn_the_reset_link() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let token = app.reset_token_for("ada@example.com").await;
    let (status, code, _) = problem(
        app.post_json(
            "/auth/password/reset",
            &json!({"token": token, "new_password": "password1"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "weak_password")
    );
    assert_eq!(
        app.post_json(
            "/auth/password/reset",
            &json!({"token": token, "new_password": NEW_PASSWORD})
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn an_access_token_presented_as_a_reset_token_is_refused() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    for token in [s(&login, "access_token"), "garbage".to_owned()] {
        let (status, code, _) = problem(
            app.post_json(
                "/auth/password/reset",
                &json!({"token": token, "new_password": NEW_PASSWORD}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_link")
        );
    }
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_reset_token_is_not_a_verification_token_nor_an_access_token() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let token = app.reset_token_for("ada@example.com").await;
    let (status, code, _) = problem(
        app.post_json("/auth/email/verify", &json!({"token": token}))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_link")
    );
    let (status, code, _) = problem(app.get_bearer("/api/me", &token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn forgot_mails_an_account_at_most_once_a_minute() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    app.reset_token_for("ada@example.com").await;
    for _ in 0..3 {
        let response = app
            .post_json(
                "/auth/password/forgot",
                &json!({"email": "ada@example.com"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    app.clock.advance(61);
    // The next one goes out; by then the ones above would have been written too.
    app.reset_token_for("ada@example.com").await;
    let resets = messages_in(&app.outbox())
        .iter()
        .filter(|m| m.contains("reset-password?token="))
        .count();
    assert_eq!(resets, 2);
}

/// The claims of a JWT, decoded without verification (for asserting what a token carries).
fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn mail_link_tokens_carry_an_audience_of_their_own_so_no_api_verifier_accepts_them() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let verify = app.verify_token_for("ada@example.com").await;
    let reset = app.reset_token_for("ada@example.com").await;
    let jwks: jwtgate_verify::Jwks = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .expect("jwks");
    let issuer = &app.settings.issuer();
    for (token, typ, endpoint) in [
        (reset, "reset+jwt", "/auth/password/reset"),
        (verify, "verify-email+jwt", "/auth/email/verify"),
    ] {
        assert_eq!(claims_of(&token)["aud"], format!("{issuer}{endpoint}"));
        // A verifier that checks only issuer and audience (here: even accepting the link's
        // `typ`, as PyJWT ignores `typ` altogether) refuses it.
        let keys = jwtgate_verify::KeySet::from_jwks(&jwks).expect("keys");
        let api = jwtgate_verify::Verifier::new(
            keys,
            jwtgate_verify::Policy::new(issuer.clone(), app.settings.audience.clone())
                .with_typ(typ)
                .with_max_lifetime(24 * 3600),
        );
        let refused = api.verify_at(&token, crate::helpers::START).err();
        assert_eq!(refused.map(|e| e.reason()), Some("wrong_audience"), "{typ}");
        let (status, code, _) = problem(app.get_bearer("/api/me", &token).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
    }
}

#[tokio::test]
async fn a_disabled_account_gets_no_reset_link_and_the_same_answer() {
    let app = spawn_app().await;
    let admin = crate::admin::sign_in_admin(&app, "root@example.com").await;
    let ada = crate::admin::sign_in(&app, "ada@example.com").await;
    let disabled = crate::admin::send(
        &app,
        reqwest::Method::POST,
        &format!("/api/admin/users/{}/disable", ada.id),
        &admin.access,
        None,
    )
    .await;
    assert_eq!(disabled.status(), StatusCode::OK);

    let response = app
        .post_json(
            "/auth/password/forgot",
            &json!({"email": "ada@example.com"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, json!({"status": "check_your_email"}));
    app.handle.idle().await;
    assert!(
        !messages_in(&app.outbox())
            .iter()
            .any(|m| m.contains("To: ada@example.com") && m.contains("reset-password?token=")),
        "a disabled account was mailed a reset link"
    );
}

#[tokio::test]
async fn a_password_change_or_reset_that_fails_midway_changes_nothing() {
    for through_reset in [false, true] {
        let app = spawn_app().await;
        let here = app.signed_in("ada@example.com").await;
        let there: Value = app
            .login("ada@example.com", PASSWORD)
            .await
            .json()
            .await
            .expect("json");
        let link = if through_reset {
            Some(app.reset_token_for("ada@example.com").await)
        } else {
            None
        };
        // Fault injection: the step that ends the sessions fails, as a crash between writing
        // the new hash and ending the sessions would leave things.
        let remove = crate::helpers::fail_ending_sessions(&app).await;
        let response = match &link {
            Some(token) => {
                app.post_json(
                    "/auth/password/reset",
                    &json!({"token": token, "new_password": NEW_PASSWORD}),
                )
                .await
            }
            None => {
                app.post_bearer(
                    "/auth/password/change",
                    &s(&here, "access_token"),
                    &json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
                )
                .await
            }
        };
        let (status, code, _) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
        );
        app.store().test_sql(remove).await.expect("drop");

        // Nothing of it took hold: the old password, the other session, the link.
        assert_eq!(
            app.login("ada@example.com", NEW_PASSWORD).await.status(),
            StatusCode::UNAUTHORIZED,
            "reset: {through_reset}"
        );
        assert_eq!(
            app.login("ada@example.com", PASSWORD).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            app.refresh(&s(&there, "refresh_token")).await.status(),
            StatusCode::OK
        );
        if let Some(token) = link {
            let again = app
                .post_json(
                    "/auth/password/reset",
                    &json!({"token": token, "new_password": NEW_PASSWORD}),
                )
                .await;
            assert_eq!(again.status(), StatusCode::NO_CONTENT);
        }
    }
}
