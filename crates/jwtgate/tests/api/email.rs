//! Email verification, `require_email_verification`, and SMTP delivery to a real local sink.
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, problem, spawn_app, spawn_app_with};
use crate::outbox::{messages_in, s, token_in, wait_for};

#[tokio::test]
async fn registration_mails_a_link_that_verifies_the_address_once() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let mail = wait_for(
        &app,
        &app.outbox(),
        "ada@example.com",
        "verify-email?token=",
    )
    .await;
    assert!(mail.contains("Subject: Confirm your email address"));
    // The link opens the web client's page (hash route): a GET of it consumes nothing.
    assert!(mail.contains(&format!("{}/#/verify-email?token=", app.settings.issuer())));
    let token = token_in(&mail, "verify-email");

    let response = app
        .post_json("/auth/email/verify", &json!({"token": token}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, code, _) = problem(
        app.post_json("/auth/email/verify", &json!({"token": token}))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "token_used")
    );
}

#[tokio::test]
async fn the_email_verified_claim_follows_the_address_from_the_next_token_on() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    assert_eq!(login["user"]["email_verified"], false);
    let me = |access: String| {
        let app = &app;
        async move {
            let response = app.get_bearer("/api/me", &access).await;
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.expect("json")
        }
    };
    assert_eq!(me(s(&login, "access_token")).await["email_verified"], false);
    let token = app.verify_token_for("ada@example.com").await;
    app.post_json("/auth/email/verify", &json!({"token": token}))
        .await;
    // The token in hand was minted before: it keeps saying false until it is refreshed.
    assert_eq!(me(s(&login, "access_token")).await["email_verified"], false);
    let refreshed: Value = app
        .refresh(&s(&login, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(refreshed["user"]["email_verified"], true);
    assert_eq!(
        me(s(&refreshed, "access_token")).await["email_verified"],
        true
    );
}

#[tokio::test]
async fn an_expired_verification_link_answers_token_expired() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let token = app.verify_token_for("ada@example.com").await;
    app.clock.advance(24 * 3600 + 60);
    let (status, code, _) = problem(
        app.post_json("/auth/email/verify", &json!({"token": token}))
            .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "token_expired")
    );
}

#[tokio::test]
async fn a_verification_token_presented_as_an_access_token_is_refused() {
    let app = spawn_app().await;
    app.register("ada@example.com").await;
    let token = app.verify_token_for("ada@example.com").await;
    let response = app.get_bearer("/api/me", &token).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"jwtgate\", error=\"invalid_token\""
    );
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    // Nor as a reset token; and it still verifies the address afterwards.
    let (status, code, _) = problem(
        app.post_json(
            "/auth/password/reset",
            &json!({"token": token, "new_password": "another fine passphrase"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_link")
    );
    assert_eq!(
        app.post_json("/auth/email/verify", &json!({"token": token}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn resending_the_verification_needs_a_session_and_mails_a_new_link() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let first = app.verify_token_for("ada@example.com").await;
    let (status, code, _) = problem(
        app.client
            .post(app.url("/auth/email/verify/resend"))
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "missing_credentials")
    );

    app.clock.advance(61);
    let response = app
        .post_bearer(
            "/auth/email/verify/resend",
            &s(&login, "access_token"),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    app.handle.idle().await;
    let second = messages_in(&app.outbox())
        .iter()
        .filter(|m| m.contains("verify-email?token="))
        .map(|m| token_in(m, "verify-email"))
        .find(|t| *t != first)
        .expect("a second verification link");
    assert_eq!(
        app.post_json("/auth/email/verify", &json!({"token": second}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn with_verification_required_login_waits_for_a_verified_address() {
    let app = spawn_app_with(|s| s.require_email_verification = true).await;
    let response = app.register("ada@example.com").await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let token = app.verify_token_for("ada@example.com").await;

    // A wrong password learns nothing about verification.
    let (status, code, _) =
        problem(app.login("ada@example.com", "wrong password here").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let (status, code, _) = problem(app.login("ada@example.com", PASSWORD).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "email_not_verified")
    );

    assert_eq!(
        app.post_json("/auth/email/verify", &json!({"token": token}))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn with_verification_required_registration_does_not_reveal_a_taken_address() {
    let app = spawn_app_with(|s| s.require_email_verification = true).await;
    let first = app.register("ada@example.com").await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.expect("json");
    app.verify_token_for("ada@example.com").await;

    let again = app.register("ada@example.com").await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let again: Value = again.json().await.expect("json");
    assert_eq!(first, again);
    assert_eq!(again["status"], "check_your_email");
    wait_for(
        &app,
        &app.outbox(),
        "ada@example.com",
        "Someone tried to register",
    )
    .await;
    // Invalid input is still reported: it says nothing about who exists.
    let (status, code, _) = problem(
        app.post_json(
            "/auth/register",
            &json!({"email": "bob@example.com", "password": "short"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "weak_password")
    );
}

#[tokio::test]
async fn without_verification_required_register_keeps_201_and_409() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let (status, code, _) = problem(app.register("ada@example.com").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "email_taken")
    );
    // Unverified accounts may log in.
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// A real SMTP server (Python's aiosmtpd) writing what it receives to a directory.
struct SmtpSink {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SMTP sink needs Python's aiosmtpd, which `./scripts/test` installs: a test installs
/// nothing itself.
fn ensure_aiosmtpd() {
    let present = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        present,
        "python3 cannot import aiosmtpd: run ./scripts/test, which installs it"
    );
}

fn start_sink() -> SmtpSink {
    ensure_aiosmtpd();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = tempfile::tempdir().expect("tempdir");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("sink output");
    assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
    if let Some(stdin) = child.stdin.as_mut() {
        let _ = stdin.flush();
    }
    SmtpSink { child, port, dir }
}

#[tokio::test]
async fn mail_goes_out_over_smtp_to_a_real_local_server() {
    let sink = start_sink();
    let port = sink.port;
    let app = spawn_app_with(|s| {
        s.smtp_url = Some(jwtgate::config::SecretString::new(format!(
            "smtp://127.0.0.1:{port}"
        )));
        s.mail_from = "jwtgate <auth@example.org>".into();
        s.public_url = Some("https://app.example.org/".into());
    })
    .await;
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let token = app.reset_token_via(&sink.dir).await;

    let mail = wait_for(
        &app,
        sink.dir.path(),
        "ada@example.com",
        "verify-email?token=",
    )
    .await;
    assert!(mail.contains("X-Envelope-From: auth@example.org"));
    assert!(mail.contains("From: jwtgate <auth@example.org>"));
    assert!(mail.contains("https://app.example.org/#/verify-email?token="));
    // Nothing went to the development outbox.
    assert!(messages_in(&app.outbox()).is_empty());
    // The link mailed over SMTP works.
    assert_eq!(
        app.post_json(
            "/auth/password/reset",
            &json!({"token": token, "new_password": "a brand new passphrase for ada"})
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
}

impl crate::helpers::TestApp {
    async fn reset_token_via(&self, dir: &tempfile::TempDir) -> String {
        let response = self
            .post_json(
                "/auth/password/forgot",
                &json!({"email": "ada@example.com"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let mail = wait_for(self, dir.path(), "ada@example.com", "reset-password?token=").await;
        assert!(mail.contains("https://app.example.org/#/reset-password?token="));
        token_in(&mail, "reset-password")
    }
}

#[tokio::test]
async fn someone_who_lost_the_link_gets_another_without_signing_in() {
    let app = spawn_app_with(|s| s.require_email_verification = true).await;
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::ACCEPTED
    );
    let first = app.verify_token_for("ada@example.com").await;
    let resend = |email: &'static str| {
        let app = &app;
        async move {
            app.post_json("/auth/email/verify/resend", &json!({"email": email}))
                .await
        }
    };
    app.clock.advance(61);
    let known = resend("ada@example.com").await;
    let unknown = resend("nobody@example.com").await;
    for response in [known, unknown] {
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body, json!({"status": "check_your_email"}));
    }
    app.handle.idle().await;
    let links: Vec<String> = messages_in(&app.outbox())
        .iter()
        .filter(|m| m.contains("verify-email?token="))
        .map(|m| token_in(m, "verify-email"))
        .collect();
    assert_eq!(links.len(), 2, "one more link, for the known address only");
    assert!(
        messages_in(&app.outbox())
            .iter()
            .all(|m| !m.contains("nobody@example.com"))
    );
    // Rationed like forgot-password: at once again, nothing more goes out.
    resend("ada@example.com").await;
    app.handle.idle().await;
    let again = messages_in(&app.outbox())
        .iter()
        .filter(|m| m.contains("verify-email?token="))
        .count();
    assert_eq!(again, 2);
    // The new link works, and the account can sign in.
    let second = links.into_iter().find(|t| *t != first).expect("a new link");
    let verified = app
        .post_json("/auth/email/verify", &json!({"token": second}))
        .await;
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_signed_in_resend_says_whether_it_went_and_when_the_next_can() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let token = s(&login, "access_token");
    let resend = || async {
        let response = app
            .post_bearer("/auth/email/verify/resend", &token, &json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        response.json::<Value>().await.expect("json")
    };
    // Registration mailed a link a moment ago: the next one waits for the cooldown.
    assert_eq!(
        resend().await,
        json!({"status": "held", "next_in_secs": 60})
    );
    app.clock.advance(45);
    assert_eq!(
        resend().await,
        json!({"status": "held", "next_in_secs": 15})
    );
    app.clock.advance(15);
    assert_eq!(
        resend().await,
        json!({"status": "sent", "next_in_secs": 60})
    );
    let link = app.verify_token_for("ada@example.com").await;
    app.post_json("/auth/email/verify", &json!({"token": link}))
        .await;
    assert_eq!(resend().await, json!({"status": "already_verified"}));
}
