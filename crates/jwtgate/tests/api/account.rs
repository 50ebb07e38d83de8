//! Self-service: changing the sign-in address (a link to the new address confirms it; the old
//! address is told, with a way to undo for 72 hours) and deleting the account.
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin::{send, sign_in_admin};
use crate::helpers::{PASSWORD, TestApp, problem, spawn_app, spawn_app_with};
use crate::outbox::{messages_in, s, token_in, wait_for};

const NEW: &str = "ada.new@example.com";

async fn change(app: &TestApp, token: &str, new_email: &str, password: &str) -> reqwest::Response {
    app.post_bearer(
        "/auth/email/change",
        token,
        &json!({"new_email": new_email, "password": password}),
    )
    .await
}

/// Signs Ada in twice and has her change her address to `NEW`; the two sign-ins.
async fn changed(app: &TestApp) -> (Value, Value) {
    let here = app.signed_in("ada@example.com").await;
    let there: Value = app
        .login("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let response = change(app, &s(&here, "access_token"), NEW, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let mail = wait_for(app, &app.outbox(), NEW, "confirm-email?token=").await;
    let confirmed = app
        .post_json(
            "/auth/email/change/confirm",
            &json!({"token": token_in(&mail, "confirm-email")}),
        )
        .await;
    assert_eq!(confirmed.status(), StatusCode::NO_CONTENT);
    (here, there)
}

#[tokio::test]
async fn a_new_address_takes_hold_once_its_link_is_used_and_the_old_one_is_told() {
    let app = spawn_app().await;
    let here = app.signed_in("ada@example.com").await;
    let token = s(&here, "access_token");
    // The password again, a real new address, and one nobody has.
    let (status, code, _) =
        problem(change(&app, &token, NEW, "not the password at all").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "wrong_password")
    );
    let (status, code, _) = problem(change(&app, &token, "ada@example.com", PASSWORD).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_email")
    );
    app.signed_in("bob@example.com").await;
    let (status, code, _) = problem(change(&app, &token, "bob@example.com", PASSWORD).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "email_taken")
    );

    assert_eq!(
        change(&app, &token, NEW, PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    let mail = wait_for(&app, &app.outbox(), NEW, "confirm-email?token=").await;
    // Nothing changes before the link is used.
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    let link = token_in(&mail, "confirm-email");
    let confirmed = app
        .post_json("/auth/email/change/confirm", &json!({"token": link}))
        .await;
    assert_eq!(confirmed.status(), StatusCode::NO_CONTENT);
    let (status, code, _) = problem(
        app.post_json("/auth/email/change/confirm", &json!({"token": link}))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "token_used")
    );

    // The new address signs in; the old one is nobody's.
    assert_eq!(app.login(NEW, PASSWORD).await.status(), StatusCode::OK);
    let (status, code, _) = problem(app.login("ada@example.com", PASSWORD).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    // Tokens naming the old address are cut off; the session refreshes into the new one.
    let (status, code, _) = problem(app.get_bearer("/api/me", &token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let renewed: Value = app
        .refresh(&s(&here, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    let me: Value = app
        .get_bearer("/api/me", &s(&renewed, "access_token"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        (me["email"].as_str(), me["email_verified"].as_bool()),
        (Some(NEW), Some(true))
    );
    // The old address hears of it, with the new one named and a way back.
    let notice = wait_for(&app, &app.outbox(), "ada@example.com", "undo-email?token=").await;
    assert!(notice.contains(NEW), "{notice}");
}

#[tokio::test]
async fn the_old_address_undoes_a_change_and_whoever_made_it_is_locked_out() {
    let app = spawn_app().await;
    let (here, there) = changed(&app).await;
    let notice = wait_for(&app, &app.outbox(), "ada@example.com", "undo-email?token=").await;
    let undo = token_in(&notice, "undo-email");
    app.clock.advance(71 * 3600);
    let undone = app
        .post_json("/auth/email/change/undo", &json!({"token": undo}))
        .await;
    assert_eq!(undone.status(), StatusCode::NO_CONTENT);
    let (status, code, _) = problem(
        app.post_json("/auth/email/change/undo", &json!({"token": undo}))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "token_used")
    );

    // Every session is over, and the password that made the change no longer signs in.
    for session in [&here, &there] {
        let (status, code, _) = problem(app.refresh(&s(session, "refresh_token")).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "email_change_undone")
        );
    }
    for address in ["ada@example.com", NEW] {
        let (status, code, _) = problem(app.login(address, PASSWORD).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
    }
    // The restored address got a reset link: its owner chooses a new password.
    let reset = wait_for(
        &app,
        &app.outbox(),
        "ada@example.com",
        "reset-password?token=",
    )
    .await;
    let fresh = "an entirely different passphrase";
    let done = app
        .post_json(
            "/auth/password/reset",
            &json!({"token": token_in(&reset, "reset-password"), "new_password": fresh}),
        )
        .await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.login("ada@example.com", fresh).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_undo_link_works_for_72_hours() {
    let app = spawn_app().await;
    changed(&app).await;
    let notice = wait_for(&app, &app.outbox(), "ada@example.com", "undo-email?token=").await;
    app.clock.advance(72 * 3600 + 31);
    let (status, code, _) = problem(
        app.post_json(
            "/auth/email/change/undo",
            &json!({"token": token_in(&notice, "undo-email")}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "token_expired")
    );
}

#[tokio::test]
async fn deleting_the_account_ends_everything_and_the_audit_keeps_no_address() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let here = app.signed_in("ada@example.com").await;
    let id = here["user"]["id"].as_str().expect("id").to_owned();
    let token = s(&here, "access_token");
    let delete = |password: &'static str| {
        let (app, token) = (&app, &token);
        async move {
            app.post_bearer(
                "/auth/account/delete",
                token,
                &json!({"password": password}),
            )
            .await
        }
    };
    let (status, code, _) = problem(delete("not the password at all").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "wrong_password")
    );
    let gone = delete(PASSWORD).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let cleared = crate::helpers::set_cookies(&gone);
    assert!(cleared["__Host-jwtgate_rt"].contains("Max-Age=0"));

    let (status, code, _) = problem(app.get_bearer("/api/me", &token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (status, code, _) = problem(app.refresh(&s(&here, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "account_deleted")
    );
    let (status, code, _) = problem(app.login("ada@example.com", PASSWORD).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    // Administrators no longer see it; the address is free for a new account.
    let (status, code, _) = problem(
        send(
            &app,
            Method::GET,
            &format!("/api/admin/users/{id}"),
            &admin.access,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );

    // The audit keeps the event, under the id, and no row of it names the address.
    let audit: Value = send(
        &app,
        Method::GET,
        "/api/admin/audit?limit=100",
        &admin.access,
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    let events = audit["events"].as_array().expect("events");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "account_deleted" && e["subject_id"] == id.as_str())
    );
    for event in events.iter().filter(|e| e["subject_id"] == id.as_str()) {
        assert!(!event.to_string().contains("ada@example.com"), "{event}");
    }
    // A restart does not bring the deleted account's tokens back.
    let app = app.restart().await;
    let (status, code, _) = problem(app.get_bearer("/api/me", &token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn the_last_administrator_cannot_delete_their_account() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let response = app
        .post_bearer(
            "/auth/account/delete",
            &admin.access,
            &json!({"password": PASSWORD}),
        )
        .await;
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "last_admin")
    );
}

#[tokio::test]
async fn with_verification_on_a_taken_new_address_learns_nothing() {
    let app = spawn_app_with(|s| s.require_email_verification = true).await;
    let admin = sign_in_admin_verified(&app).await;
    let response = change(&app, &admin, "taken@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.handle.idle().await;
    assert!(
        !messages_in(&app.outbox())
            .iter()
            .any(|m| m.contains("To: taken@example.com") && m.contains("confirm-email")),
        "a confirm link went to an address that has an account"
    );
}

/// With verification on: an account whose address is verified, signed in; another account
/// at taken@example.com.
async fn sign_in_admin_verified(app: &TestApp) -> String {
    for email in ["root@example.com", "taken@example.com"] {
        assert_eq!(app.register(email).await.status(), StatusCode::ACCEPTED);
        let link = app.verify_token_for(email).await;
        let verified = app
            .post_json("/auth/email/verify", &json!({"token": link}))
            .await;
        assert_eq!(verified.status(), StatusCode::NO_CONTENT);
    }
    let login: Value = app
        .login("root@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    s(&login, "access_token")
}
