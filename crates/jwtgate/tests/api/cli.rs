//! The `jwtgate` binary's commands, run as a user would (stdin, env, exit codes).

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{boot, test_settings};

pub fn jwtgate(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jwtgate"));
    command
        .args(args)
        .env_remove("JWT_SECRET")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn jwtgate");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn secret_prints_a_fresh_256_bit_value() {
    let a = jwtgate(&["secret"], &[], "");
    let b = jwtgate(&["secret"], &[], "");
    assert!(a.status.success());
    assert_eq!(text(&a.stdout).trim().len(), 43);
    assert_ne!(a.stdout, b.stdout);
}

#[test]
fn a_short_jwt_secret_is_refused_naming_the_secret_command() {
    let out = jwtgate(&["check-config"], &[("JWT_SECRET", "hunter2")], "");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("jwtgate secret"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn check_config_redacts_the_secret() {
    let secret = "s3cr3t-value-that-is-long-enough-for-hs256";
    let out = jwtgate(
        &["check-config"],
        &[("JWT_SECRET", secret), ("JWTGATE_AUDIENCE", "api")],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("audience = \"api\""));
    assert!(stdout.contains("jwt_secret = \"[redacted]\""));
    assert!(!stdout.contains(secret) && !text(&out.stderr).contains(secret));
}

#[test]
fn token_decode_is_marked_not_verified() {
    let out = jwtgate(
        &["token", "decode", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."],
        &[],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("NOT VERIFIED"));
    assert!(stdout.contains("\"sub\": \"x\""));
}

#[tokio::test]
async fn user_add_reads_the_password_from_stdin_and_grants_roles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_str().expect("utf8").to_owned();
    let weak = [
        ("JWTGATE_ARGON2_MEMORY_KIB", "64"),
        ("JWTGATE_ARGON2_ITERATIONS", "1"),
        ("JWTGATE_ALLOW_WEAK_PASSWORD_HASHING", "true"),
    ];
    let out = jwtgate(
        &[
            "--data-dir",
            &data_dir,
            "user",
            "add",
            "--email",
            "Root@Example.com",
            "--role",
            "admin",
        ],
        &weak,
        "an admin pass phrase nobody guesses\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    let weak_password = jwtgate(
        &[
            "--data-dir",
            &data_dir,
            "user",
            "add",
            "--email",
            "x@example.com",
        ],
        &weak,
        "password\n",
    );
    assert!(!weak_password.status.success());

    let app = boot(
        test_settings(dir.path().to_owned()),
        // The wall clock: the CLI verifies with the real time.
        jwtgate::Clock::system(),
        Some(dir),
    )
    .await;
    let response = app
        .post_json("/auth/login", &json!({"email": "root@example.com", "password": "an admin pass phrase nobody guesses"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["roles"], json!(["admin"]));
    let me: Value = app
        .get_bearer("/api/me", body["access_token"].as_str().expect("t"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(me["roles"], json!(["admin"]));

    let jwks = app.url("/.well-known/jwks.json");
    let token = body["access_token"].as_str().expect("t").to_owned();
    let verify = tokio::task::spawn_blocking(move || {
        jwtgate(&["token", "verify", &token, "--jwks", &jwks], &[], "")
    })
    .await
    .expect("join");
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    assert!(text(&verify.stdout).starts_with("VALID"));
}
