//! Mail is rationed: a cooldown per kind and an hourly cap per recipient mailbox (which
//! plus-addressing cannot dodge), an hourly cap per client address, and a server-wide budget.
//! Over a limit the answer is what it would have been, and the mail is not sent.
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, spawn_app_with};
use crate::outbox::messages_in;

/// Posts `body` to `path` as a client at `ip` (behind the trusted local proxy); the status.
async fn post_from(app: &TestApp, path: &str, body: serde_json::Value, ip: &str) -> StatusCode {
    let response = app
        .client
        .post(app.url(path))
        .header("x-forwarded-for", ip)
        .json(&body)
        .send()
        .await
        .expect("post");
    response.status()
}

/// Registers `email` as a client at `ip`.
async fn register_from(app: &TestApp, email: &str, ip: &str) -> StatusCode {
    let body = json!({"email": email, "password": PASSWORD});
    post_from(app, "/auth/register", body, ip).await
}

/// Mails delivered so far whose recipient matches `to` (after background work ends).
async fn mails(app: &TestApp, to: impl Fn(&str) -> bool, needle: &str) -> usize {
    app.handle.idle().await;
    messages_in(&app.outbox())
        .iter()
        .filter(|m| {
            let recipient = m
                .lines()
                .find_map(|l| l.strip_prefix("To: "))
                .unwrap_or_default();
            to(recipient) && m.contains(needle)
        })
        .count()
}

#[tokio::test]
async fn plus_addresses_of_one_mailbox_share_one_ration() {
    let app = spawn_app_with(|s| s.trust_proxy_headers = true).await;
    for i in 0..30 {
        let email = format!("victim+{i}@example.com");
        let status = register_from(&app, &email, &format!("198.51.100.{i}")).await;
        assert_eq!(status, StatusCode::CREATED, "{email}");
    }
    let victim = |to: &str| to.starts_with("victim") && to.ends_with("@example.com");
    assert_eq!(mails(&app, victim, "verify-email?token=").await, 1);

    // Reset links are their own kind, rationed the same way.
    for i in 0..30 {
        let response = app
            .post_json(
                "/auth/password/forgot",
                &json!({"email": format!("victim+{i}@example.com")}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    assert_eq!(mails(&app, victim, "reset-password?token=").await, 1);
}

#[tokio::test]
async fn the_someone_tried_to_register_notice_is_rationed_per_mailbox() {
    let app = spawn_app_with(|s| {
        s.require_email_verification = true;
        s.trust_proxy_headers = true;
    })
    .await;
    assert_eq!(
        register_from(&app, "victim@example.com", "192.0.2.1").await,
        StatusCode::ACCEPTED
    );
    for i in 0..11 {
        let status = register_from(&app, "victim@example.com", &format!("203.0.113.{i}")).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    assert_eq!(
        mails(&app, |to| to == "victim@example.com", "Someone tried").await,
        1
    );
    // Spread out past the cooldown, they stop at the mailbox's hourly cap (6, the
    // verification mail included).
    for i in 0..11 {
        app.clock.advance(61);
        let status = register_from(&app, "victim@example.com", &format!("203.0.113.{i}")).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    assert_eq!(
        mails(&app, |to| to == "victim@example.com", "Someone tried").await,
        5
    );
}

#[tokio::test]
async fn one_client_address_causes_at_most_its_hourly_share_of_mail() {
    let app = spawn_app_with(|s| {
        s.trust_proxy_headers = true;
        s.mail_client_per_hour = 5;
    })
    .await;
    for i in 0..8 {
        let status = register_from(&app, &format!("user{i}@example.com"), "198.51.100.7").await;
        assert_eq!(status, StatusCode::CREATED);
    }
    assert_eq!(mails(&app, |_| true, "verify-email?token=").await, 5);
    // Another address is not held back.
    let status = register_from(&app, "other@example.com", "198.51.100.8").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        mails(&app, |to| to == "other@example.com", "verify-email").await,
        1
    );
}

#[tokio::test]
async fn forgot_password_and_resend_draw_on_one_client_share() {
    let app = spawn_app_with(|s| {
        s.trust_proxy_headers = true;
        s.mail_client_per_hour = 5;
    })
    .await;
    // Eight accounts, each registered from an address of its own (one verification mail each).
    for i in 0..8 {
        let status = register_from(
            &app,
            &format!("user{i}@example.com"),
            &format!("192.0.2.{i}"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let before = mails(&app, |_| true, "verify-email?token=").await;
    // One client asks for a reset link for each: five go, and every answer is the same 202.
    for i in 0..8 {
        let body = json!({"email": format!("user{i}@example.com")});
        let status = post_from(&app, "/auth/password/forgot", body, "198.51.100.9").await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    assert_eq!(mails(&app, |_| true, "reset-password?token=").await, 5);
    // Its share is spent: a signed-out resend from it is answered 202 and sends nothing.
    let body = json!({"email": "user7@example.com"});
    let status = post_from(&app, "/auth/email/verify/resend", body, "198.51.100.9").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(mails(&app, |_| true, "verify-email?token=").await, before);
    // The same resend from another client goes (user7's cooldown has not been used by it).
    app.clock.advance(61);
    let body = json!({"email": "user7@example.com"});
    let status = post_from(&app, "/auth/email/verify/resend", body, "198.51.100.10").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        mails(&app, |_| true, "verify-email?token=").await,
        before + 1
    );
}

#[tokio::test]
async fn the_server_sends_at_most_its_hourly_budget() {
    let app = spawn_app_with(|s| {
        s.trust_proxy_headers = true;
        s.mail_server_per_hour = 3;
    })
    .await;
    for i in 0..5 {
        let status = register_from(
            &app,
            &format!("user{i}@example.com"),
            &format!("192.0.2.{i}"),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    assert_eq!(mails(&app, |_| true, "verify-email?token=").await, 3);
    // An hour later the budget is whole again.
    app.clock.advance(3601);
    let status = register_from(&app, "late@example.com", "192.0.2.99").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        mails(&app, |to| to == "late@example.com", "verify-email").await,
        1
    );
}

// Several worker threads: the requests really race for the ration's last places.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_at_once_cannot_take_one_place_of_the_ration_twice() {
    let app = spawn_app_with(|s| {
        s.trust_proxy_headers = true;
        s.mail_server_per_hour = 3;
    })
    .await;
    for i in 0..40 {
        let status = register_from(&app, &format!("user{i}@example.com"), "192.0.2.1").await;
        assert_eq!(status, StatusCode::CREATED);
    }
    // Each account asks for a reset link, all at once, from addresses of their own: the
    // budget has 3 places (no verification mail fitted in it after the first 3).
    app.clock.advance(3601);
    let mut asks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (client, url) = (app.client.clone(), app.url("/auth/password/forgot"));
        asks.spawn(async move {
            client
                .post(url)
                .header("x-forwarded-for", format!("203.0.113.{i}"))
                .json(&json!({"email": format!("user{i}@example.com")}))
                .send()
                .await
                .expect("forgot")
                .status()
        });
    }
    for status in asks.join_all().await {
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    assert_eq!(mails(&app, |_| true, "reset-password?token=").await, 3);
}
