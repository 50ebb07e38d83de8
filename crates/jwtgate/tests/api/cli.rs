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

/// Runs `jwtgate serve` on a free port with `env` and returns its output once it exits (it
/// must refuse to start: a 30 s guard fails the test if it serves instead).
fn serve_refusing(env: &[(&str, &str)], data_dir: &str) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_jwtgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir])
        .env_remove("JWT_SECRET")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (done, exited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match exited.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(output) => output.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("serve started with a configuration it should refuse: {env:?}");
        }
    }
}

fn openssl_key(dir: &std::path::Path, name: &str, args: &[&str]) -> String {
    let path = dir.join(name);
    let status = Command::new("openssl")
        .arg("genpkey")
        .args(args)
        .arg("-out")
        .arg(&path)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    path.display().to_string()
}

#[test]
fn check_config_refuses_exactly_what_serve_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ed25519 = openssl_key(dir.path(), "ed.pem", &["-algorithm", "ed25519"]);
    let rsa_1024 = openssl_key(
        dir.path(),
        "rsa1024.pem",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    );
    let missing = dir.path().join("nowhere.pem").display().to_string();
    let cases: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "a missing key file",
            vec![("JWTGATE_SIGNING_KEY_FILE", &missing)],
        ),
        (
            "a key of another type",
            vec![
                ("JWTGATE_SIGNING_KEY_FILE", &ed25519),
                ("JWTGATE_SIGNING_KEY_ALG", "ES256"),
            ],
        ),
        (
            "a 1024-bit RSA key",
            vec![
                ("JWTGATE_SIGNING_KEY_FILE", &rsa_1024),
                ("JWTGATE_SIGNING_KEY_ALG", "RS256"),
            ],
        ),
    ];
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf8");
    for (what, env) in cases {
        let check = jwtgate(&["check-config", "--data-dir", data], &env, "");
        assert!(!check.status.success(), "check-config accepted {what}");
        assert!(
            text(&check.stderr).contains("signing key"),
            "{what}: {}",
            text(&check.stderr)
        );
        let serve = serve_refusing(&env, data);
        assert!(!serve.status.success(), "serve accepted {what}");
        assert!(
            text(&serve.stderr).contains("signing key"),
            "{what}: {}",
            text(&serve.stderr)
        );
    }
    // The same key with its own algorithm passes both.
    let good = [
        ("JWTGATE_SIGNING_KEY_FILE", ed25519.as_str()),
        ("JWTGATE_SIGNING_KEY_ALG", "EdDSA"),
    ];
    let check = jwtgate(&["check-config", "--data-dir", data], &good, "");
    assert!(check.status.success(), "{}", text(&check.stderr));
}

#[test]
fn check_config_refuses_a_database_serve_cannot_open_and_makes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf8");
    let no_dir = dir.path().join("no-such-dir").join("jwtgate.db");
    let no_dir = format!("sqlite:{}", no_dir.display());
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let cases = [
        (
            "a PostgreSQL server that does not answer",
            "postgres://jwtgate:pw@127.0.0.1:1/jwtgate",
        ),
        (
            "a SQLite file in a directory that does not exist",
            no_dir.as_str(),
        ),
    ];
    for (what, url) in cases {
        let env = [("JWTGATE_DATABASE_URL", url)];
        let check = jwtgate(&["check-config", "--data-dir", data], &env, "");
        assert!(!check.status.success(), "check-config accepted {what}");
        let said = text(&check.stderr);
        assert!(said.contains("database"), "{what}: {said}");
        assert!(
            !said.contains(":pw@"),
            "{what}: the password was printed: {said}"
        );
        let serve = serve_refusing(&env, data);
        assert!(!serve.status.success(), "serve accepted {what}");
    }
    // The embedded default passes, and checking it made no database.
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = dir.path().join("fresh");
    let check = jwtgate(
        &["check-config", "--data-dir", fresh.to_str().expect("utf8")],
        &[],
        "",
    );
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(!fresh.join("jwtgate.db").exists());
}

#[tokio::test]
async fn token_verify_checks_hs256_tokens_with_the_servers_secret() {
    let secret = "a-jwt-secret-of-more-than-thirty-two-bytes";
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(dir.path().to_owned());
    settings.jwt_secret = Some(jwtgate::config::SecretString::new(secret));
    settings.issuer = Some("https://auth.example.test".into());
    let app = boot(settings, jwtgate::Clock::system(), Some(dir)).await;
    let token = app.signed_in("ada@example.com").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let secret_file = tempfile::NamedTempFile::new().expect("file");
    std::fs::write(secret_file.path(), format!("{secret}\n")).expect("write");
    let secret_path = secret_file.path().display().to_string();
    let issuer = ("JWTGATE_ISSUER", "https://auth.example.test");
    let outcome = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str], env: &[(&str, &str)]| {
            let mut all = vec!["token", "verify", &token];
            all.extend_from_slice(args);
            jwtgate(&all, env, "")
        };
        [
            // With the server's own settings, nothing else to say.
            run(&[], &[issuer, ("JWT_SECRET", secret)]),
            run(&["--secret-file", &secret_path], &[issuer]),
            run(
                &["--secret-env", "MY_SECRET"],
                &[issuer, ("MY_SECRET", secret)],
            ),
            // A wrong secret, a wrong issuer, no key at all.
            run(
                &["--secret-env", "MY_SECRET"],
                &[issuer, ("MY_SECRET", &"x".repeat(40))],
            ),
            run(&["--secret-file", &secret_path], &[]),
            run(&[], &[issuer]),
        ]
    })
    .await
    .expect("join");
    for (i, out) in outcome.iter().enumerate().take(3) {
        assert!(out.status.success(), "case {i}: {}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with("VALID"), "case {i}");
    }
    assert!(
        text(&outcome[3].stderr).contains("INVALID: unknown_kid"),
        "{}",
        text(&outcome[3].stderr)
    );
    assert!(
        text(&outcome[4].stderr).contains("INVALID: wrong_issuer"),
        "{}",
        text(&outcome[4].stderr)
    );
    assert!(
        text(&outcome[5].stderr).contains("--secret-file"),
        "{}",
        text(&outcome[5].stderr)
    );
    for out in &outcome[3..] {
        assert!(!out.status.success());
    }
}

#[tokio::test]
async fn an_operator_made_account_with_a_known_address_signs_in_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_str().expect("utf8").to_owned();
    // The commands work on the database the server will use: PostgreSQL too, when the run
    // has one.
    let database = crate::database::create().await;
    let url = database.as_ref().map(|db| db.url());
    let mut common = vec!["--data-dir", &data_dir];
    if let Some(url) = &url {
        common.extend(["--database-url", url]);
    }
    let env = [
        ("JWTGATE_ARGON2_MEMORY_KIB", "64"),
        ("JWTGATE_ARGON2_ITERATIONS", "1"),
        ("JWTGATE_ALLOW_WEAK_PASSWORD_HASHING", "true"),
        ("JWTGATE_REQUIRE_EMAIL_VERIFICATION", "true"),
    ];
    let password = "an admin pass phrase nobody guesses";
    for (email, verified) in [("root@example.com", true), ("other@example.com", false)] {
        let mut args = common.clone();
        args.extend(["user", "add", "--email", email]);
        if verified {
            args.push("--verified");
        }
        let out = jwtgate(&args, &env, &format!("{password}\n"));
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let mut settings = test_settings(dir.path().to_owned());
    settings.require_email_verification = true;
    settings.database_url = url.map(jwtgate::config::SecretString::new);
    let app = boot(settings, jwtgate::Clock::system(), Some(dir)).await;
    assert_eq!(
        app.login("root@example.com", password).await.status(),
        StatusCode::OK
    );
    let (status, code, _) =
        crate::helpers::problem(app.login("other@example.com", password).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "email_not_verified")
    );
}

#[tokio::test]
async fn migrate_names_the_backend_and_the_database_but_never_its_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().to_str().expect("utf8").to_owned();
    let database = crate::database::create().await;
    let (url, expected) = match &database {
        // The private test server trusts 127.0.0.1, so any password gets in.
        Some(db) => {
            let url = db.url().replacen("://jwtgate@", "://jwtgate:hunter2@", 1);
            let shown = format!(
                "(postgres): postgres://{}",
                url.rsplit_once('@').expect("@").1
            );
            (Some(url), shown)
        }
        None => (None, format!("(sqlite): {data_dir}/jwtgate.db")),
    };
    let mut args = vec!["--data-dir", &data_dir];
    if let Some(url) = &url {
        args.extend(["--database-url", url]);
    }
    args.push("migrate");
    let out = jwtgate(&args, &[], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains(&expected), "{said}");
    assert!(!said.contains("hunter2") && !text(&out.stderr).contains("hunter2"));

    // A URL of neither kind is refused before anything opens.
    let out = jwtgate(
        &[
            "--data-dir",
            &data_dir,
            "--database-url",
            "mysql://db/x",
            "migrate",
        ],
        &[],
        "",
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("database_url must be postgres://… or sqlite:PATH"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_second_serve_on_one_sqlite_file_is_refused_naming_postgresql() {
    use std::io::{BufRead as _, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let env = [
        ("JWTGATE_ALLOW_WEAK_PASSWORD_HASHING", "true"),
        ("JWTGATE_ARGON2_MEMORY_KIB", "64"),
        ("JWTGATE_ARGON2_ITERATIONS", "1"),
    ];
    let mut first = Command::new(env!("CARGO_BIN_EXE_jwtgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
        .env_remove("JWT_SECRET")
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // The banner's first line is printed once the server is up (the event waited for).
    let mut banner = String::new();
    BufReader::new(first.stdout.take().expect("stdout"))
        .read_line(&mut banner)
        .expect("banner");
    assert!(banner.starts_with("jwtgate listening on"), "{banner}");

    let second = serve_refusing(&env, data);
    // The CLI's other commands still run beside a server.
    let beside = jwtgate(&["keys", "list", "--data-dir", data], &env, "");
    let _ = first.kill();
    let _ = first.wait();
    assert!(beside.status.success(), "{}", text(&beside.stderr));
    assert!(!second.status.success());
    let stderr = text(&second.stderr);
    assert!(
        stderr.contains("another `jwtgate serve` is running") && stderr.contains("PostgreSQL"),
        "{stderr}"
    );
}

#[test]
fn feed_credentials_are_made_listed_and_revoked_from_the_cli_and_the_secret_is_shown_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let added = jwtgate(
        &[
            "feed-credential",
            "add",
            "--name",
            " orders-api ",
            "--json",
            "--data-dir",
            data,
        ],
        &[],
        "",
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let made: Value = serde_json::from_slice(&added.stdout).expect("json");
    let secret = made["secret"].as_str().expect("secret");
    let id = made["id"].as_str().expect("id");
    assert!(secret.starts_with("jgf_") && secret.len() == 47, "{secret}");
    assert_eq!(made["name"], json!("orders-api"));

    let listed = jwtgate(
        &["feed-credential", "list", "--json", "--data-dir", data],
        &[],
        "",
    );
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let list: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(list[0]["id"], json!(id));
    assert_eq!(list[0]["revoked_at"], Value::Null);
    assert!(!text(&listed.stdout).contains(secret), "never shown again");

    let revoked = jwtgate(
        &["feed-credential", "revoke", id, "--data-dir", data],
        &[],
        "",
    );
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let list: Value = serde_json::from_slice(
        &jwtgate(
            &["feed-credential", "list", "--json", "--data-dir", data],
            &[],
            "",
        )
        .stdout,
    )
    .expect("json");
    assert!(list[0]["revoked_at"].is_i64());
    let again = jwtgate(
        &["feed-credential", "revoke", id, "--data-dir", data],
        &[],
        "",
    );
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("no live feed credential"),
        "{}",
        text(&again.stderr)
    );
    let empty = jwtgate(
        &["feed-credential", "add", "--name", "", "--data-dir", data],
        &[],
        "",
    );
    assert!(!empty.status.success());
    assert!(text(&empty.stderr).contains("1 to 100 printable characters"));
}

#[test]
fn oauth_clients_are_added_shown_listed_and_removed_from_the_cli_and_the_secret_is_shown_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--data-dir", data]);
        jwtgate(&all, &[], "")
    };
    let added = run(&[
        "client",
        "add",
        "--name",
        "Orders",
        "--redirect-uri",
        "https://orders.example.com/cb",
        "--redirect-uri",
        "http://localhost:8080/cb",
        "--grant",
        "authorization_code",
        "--grant",
        "client_credentials",
        "--first-party",
        "--json",
    ]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let made: Value = serde_json::from_slice(&added.stdout).expect("json");
    let id = made["client_id"].as_str().expect("client_id");
    let secret = made["client_secret"].as_str().expect("client_secret");
    assert!(secret.starts_with("jgc_") && secret.len() == 47, "{secret}");
    assert!(!id.starts_with('-'));
    assert_eq!(made["kind"], json!("confidential"));
    assert_eq!(
        made["grants"],
        json!(["authorization_code", "client_credentials"])
    );

    let public = run(&[
        "client",
        "add",
        "--name",
        "SPA",
        "--public",
        "--redirect-uri",
        "http://127.0.0.1:5173/cb",
    ]);
    assert!(public.status.success(), "{}", text(&public.stderr));
    let public_text = text(&public.stdout);
    assert!(public_text.contains("public client SPA"), "{public_text}");
    assert!(
        !public_text.contains("jgc_"),
        "a public client has no secret"
    );

    let listed = run(&["client", "list", "--json"]);
    assert!(listed.status.success(), "{}", text(&listed.stderr));
    let list: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(list.as_array().expect("array").len(), 2);
    assert_eq!(list[0]["client_id"], json!(id));
    let table = run(&["client", "list"]);
    let shown = run(&["client", "show", id, "--json"]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    let one: Value = serde_json::from_slice(&shown.stdout).expect("json");
    assert_eq!(one["redirect_uris"][1], json!("http://localhost:8080/cb"));
    for out in [&listed, &table, &shown] {
        assert!(!text(&out.stdout).contains(secret), "never shown again");
        assert!(!text(&out.stderr).contains(secret), "never logged");
    }
    assert!(!text(&added.stderr).contains(secret), "never logged");

    let removed = run(&["client", "remove", id]);
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    let again = run(&["client", "remove", id]);
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains(&format!("no OAuth client with id {id}")),
        "{}",
        text(&again.stderr)
    );
    let unknown = run(&["client", "show", "-nope"]);
    assert!(!unknown.status.success());

    for (args, says) in [
        (
            &[
                "client",
                "add",
                "--name",
                "Bad",
                "--redirect-uri",
                "http://example.com/cb",
            ][..],
            "must use https",
        ),
        (
            &["client", "add", "--name", "Bad"][..],
            "at least one redirect URI",
        ),
        (
            &[
                "client",
                "add",
                "--name",
                "jwtgate",
                "--redirect-uri",
                "https://a.example/cb",
            ][..],
            "reserved for the built-in web client",
        ),
        (
            &[
                "client",
                "add",
                "--name",
                "SPA",
                "--public",
                "--grant",
                "client_credentials",
            ][..],
            "only for confidential clients",
        ),
    ] {
        let refused = run(args);
        assert!(!refused.status.success(), "{args:?}");
        assert!(
            text(&refused.stderr).contains(says),
            "{}",
            text(&refused.stderr)
        );
    }
    let both = run(&["client", "add", "--name", "X", "--public", "--confidential"]);
    assert!(!both.status.success());
}

/// `jwtgate doctor` against `app`'s data dir and database, with `env` besides; its lines and
/// whether it exited 0.
async fn doctor(app: &crate::helpers::TestApp, env: &[(&str, &str)]) -> (Vec<String>, bool) {
    let mut args = vec![
        "doctor".to_owned(),
        "--data-dir".to_owned(),
        app.data_dir.display().to_string(),
    ];
    if let Some(url) = &app.settings.database_url {
        args.extend(["--database-url".to_owned(), url.expose().to_owned()]);
    }
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    if !env.iter().any(|(k, _)| k == "JWTGATE_ISSUER") {
        env.push(("JWTGATE_ISSUER".to_owned(), app.settings.issuer()));
    }
    // The server answers the doctor's requests meanwhile: run it off this runtime's thread.
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        jwtgate(&args, &env, "")
    })
    .await
    .expect("doctor ran");
    let lines = text(&out.stdout).lines().map(str::to_owned).collect();
    (lines, out.status.success())
}

fn verdict<'a>(lines: &'a [String], check: &str) -> &'a str {
    lines
        .iter()
        .find(|l| l[5..].starts_with(check))
        .unwrap_or_else(|| panic!("no {check} line in {lines:#?}"))
}

#[tokio::test]
async fn doctor_passes_a_healthy_deployment_and_names_each_fault() {
    let app = crate::helpers::spawn_app().await;
    app.signed_in("ada@example.com").await;
    app.signed_in("bob@example.com").await;
    // The harness's temporary directory follows the umask (755); a real one is made 700.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&app.data_dir, std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
    }

    let (lines, ok) = doctor(&app, &[]).await;
    assert!(ok, "{lines:#?}");
    for check in [
        "configuration",
        "keys",
        "data directory",
        "database",
        "addresses",
        "sealed keys",
        "redis",
        "issuer",
        "clock",
    ] {
        assert!(verdict(&lines, check).starts_with("ok "), "{lines:#?}");
    }

    // An issuer where no jwtgate answers.
    let (lines, ok) = doctor(&app, &[("JWTGATE_ISSUER", "http://127.0.0.1:9")]).await;
    assert!(!ok);
    assert!(verdict(&lines, "issuer").starts_with("FAIL"), "{lines:#?}");
    // Not https, and not loopback.
    let (lines, ok) = doctor(&app, &[("JWTGATE_ISSUER", "http://auth.example.com")]).await;
    assert!(!ok);
    assert!(
        verdict(&lines, "issuer").contains("is not https"),
        "{lines:#?}"
    );

    // Two accounts whose addresses are one once normalised (written around the server).
    app.store()
        .test_sql("UPDATE users SET email = 'ADA@example.com' WHERE email = 'bob@example.com'")
        .await
        .expect("sql");
    let (lines, ok) = doctor(&app, &[]).await;
    assert!(!ok);
    assert!(
        verdict(&lines, "addresses").starts_with("FAIL"),
        "{lines:#?}"
    );
    assert!(
        verdict(&lines, "addresses").contains("1 address(es)"),
        "{lines:#?}"
    );

    // A data directory other local users can read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&app.data_dir, std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let (lines, _) = doctor(&app, &[]).await;
        assert!(
            verdict(&lines, "data directory").contains("chmod 700"),
            "{lines:#?}"
        );
        std::fs::set_permissions(&app.data_dir, std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
    }

    // Another master key than the one that sealed the stored keys.
    let other = tempfile::tempdir().expect("tempdir");
    let key = other.path().join("other.key");
    std::fs::write(&key, text(&jwtgate(&["secret"], &[], "").stdout)).expect("key");
    let (lines, ok) = doctor(
        &app,
        &[("JWTGATE_MASTER_KEY_FILE", key.to_str().expect("utf-8"))],
    )
    .await;
    assert!(!ok);
    assert!(
        verdict(&lines, "sealed keys").contains("does not open"),
        "{lines:#?}"
    );
}

#[test]
fn doctor_refuses_a_database_not_made_or_not_migrated_and_makes_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let env = [("JWTGATE_ISSUER", "http://127.0.0.1:9")];
    let out = jwtgate(&["doctor", "--data-dir", data], &env, "");
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("no database at"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        !dir.path().join("jwtgate.db").exists(),
        "the doctor made nothing"
    );
    assert!(
        !dir.path().join("master.key").exists(),
        "the doctor made nothing"
    );

    std::fs::write(dir.path().join("jwtgate.db"), b"").expect("an empty database");
    let out = jwtgate(&["doctor", "--data-dir", data], &env, "");
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("migration(s) not applied"),
        "{}",
        text(&out.stdout)
    );
}

/// `jwtgate serve` as a process on a port of its own over `data`; its URL.
async fn serve_process(data: &str, env: &[(&str, &str)]) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_jwtgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
        .env_remove("JWT_SECRET")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn jwtgate serve");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let banner = lines.next_line().await.expect("stdout").expect("a banner");
    let url = banner
        .strip_prefix("jwtgate listening on ")
        .unwrap_or_else(|| panic!("banner: {banner}"))
        .to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

async fn access_token(client: &reqwest::Client, url: &str, credentials: &Value) -> String {
    let login: Value = client
        .post(format!("{url}/auth/login"))
        .json(credentials)
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    login["access_token"].as_str().expect("token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_in_a_burst_of_writes_loses_no_acknowledged_one_and_cuts_no_answer_short() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8").to_owned();
    let env = [
        ("JWTGATE_ALLOW_WEAK_PASSWORD_HASHING", "true"),
        ("JWTGATE_ARGON2_MEMORY_KIB", "64"),
        ("JWTGATE_ARGON2_ITERATIONS", "1"),
        ("JWTGATE_RATE_LIMITS", "off"),
        ("JWTGATE_SHUTDOWN_GRACE_SECS", "10"),
    ];
    let (mut server, url) = serve_process(&data, &env).await;
    let client = reqwest::Client::new();
    let body = json!({"email": "ada@example.com", "password": "correct horse battery staple"});
    let r = client
        .post(format!("{url}/auth/register"))
        .json(&body)
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = access_token(&client, &url, &body).await;

    // 16 writers, 40 writes each; SIGTERM once 150 writes have been answered.
    let (answered, mut progress) = tokio::sync::watch::channel(0usize);
    let answered = std::sync::Arc::new(answered);
    let mut writers = tokio::task::JoinSet::new();
    for w in 0..16 {
        let (client, url, token, answered) = (
            client.clone(),
            url.clone(),
            token.clone(),
            std::sync::Arc::clone(&answered),
        );
        writers.spawn(async move {
            let (mut acked, mut refused, mut cut) = (0usize, 0usize, 0usize);
            for i in 0..40 {
                let sent = client
                    .post(format!("{url}/api/todos"))
                    .bearer_auth(&token)
                    .json(&json!({"title": format!("w{w} #{i}")}))
                    .send()
                    .await;
                match sent {
                    Ok(r) => {
                        let status = r.status();
                        // A complete answer has a whole JSON body: one cut short does not parse.
                        match r.json::<Value>().await {
                            Ok(todo) if status == StatusCode::CREATED => {
                                assert!(todo["todo"]["id"].is_string(), "{todo}");
                                acked += 1;
                            }
                            Ok(other) => panic!("HTTP {status}: {other}"),
                            Err(_) => cut += 1,
                        }
                        answered.send_modify(|n| *n += 1);
                    }
                    // Not answered: the server stopped taking connections or requests.
                    Err(_) => refused += 1,
                }
            }
            (acked, refused, cut)
        });
    }
    progress
        .wait_for(|n| *n >= 150)
        .await
        .expect("writes answered");
    let pid = server.id().expect("pid").to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let (mut acked, mut refused, mut cut) = (0, 0, 0);
    while let Some(counts) = writers.join_next().await {
        let (a, r, c) = counts.expect("writer");
        (acked, refused, cut) = (acked + a, refused + r, cut + c);
    }
    let exit = tokio::time::timeout(std::time::Duration::from_secs(20), server.wait())
        .await
        .expect("stopped within the grace")
        .expect("exit status");
    assert!(exit.success(), "a clean stop: {exit:?}");
    assert_eq!(cut, 0, "no answer was cut short");
    assert!(refused > 0, "SIGTERM came mid-burst ({acked} acknowledged)");

    // Every acknowledged write is there after a restart; at most the unanswered ones besides.
    let (mut again, url) = serve_process(&data, &env).await;
    let todos: Value = client
        .get(format!("{url}/api/todos"))
        .bearer_auth(access_token(&client, &url, &body).await)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let stored = todos["todos"].as_array().expect("todos").len();
    assert!(
        acked <= stored && stored <= acked + refused,
        "{acked} acknowledged, {refused} unanswered, {stored} stored"
    );
    let _ = again.kill().await;
}

#[tokio::test]
async fn a_request_still_arriving_at_sigterm_holds_the_stop_no_longer_than_the_grace() {
    use tokio::io::AsyncWriteExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8").to_owned();
    let env = [
        ("JWTGATE_SHUTDOWN_GRACE_SECS", "1"),
        ("JWTGATE_REQUEST_TIMEOUT_SECS", "600"),
    ];
    let (mut server, url) = serve_process(&data, &env).await;
    // A body that never finishes arriving (its deadline is ten minutes away).
    let mut slow = tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .expect("connect");
    slow.write_all(
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"email\":",
    )
    .await
    .expect("write");
    // The server has the request once it answers another one on a new connection.
    assert!(
        reqwest::get(format!("{url}/healthz"))
            .await
            .expect("healthz")
            .status()
            .is_success()
    );
    let pid = server.id().expect("pid").to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let started = std::time::Instant::now();
    let exit = tokio::time::timeout(std::time::Duration::from_secs(10), server.wait())
        .await
        .expect("the grace bounds the stop")
        .expect("exit status");
    assert!(exit.success(), "{exit:?}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "the request in flight had its grace"
    );
    drop(slow);
}

#[tokio::test]
async fn access_lines_are_json_with_route_status_and_request_id_and_never_a_token() {
    use tokio::io::AsyncBufReadExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_jwtgate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
        .env_remove("JWT_SECRET")
        .env_remove("RUST_LOG")
        .envs([
            ("JWTGATE_LOG_FORMAT", "json"),
            ("JWTGATE_ACCESS_LOG", "true"),
            ("JWTGATE_ALLOW_WEAK_PASSWORD_HASHING", "true"),
            ("JWTGATE_ARGON2_MEMORY_KIB", "64"),
            ("JWTGATE_ARGON2_ITERATIONS", "1"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut out = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let banner = out.next_line().await.expect("stdout").expect("banner");
    let url = banner
        .strip_prefix("jwtgate listening on ")
        .expect("banner")
        .to_owned();
    let client = reqwest::Client::new();
    let body = json!({"email": "ada@example.com", "password": "correct horse battery staple"});
    client
        .post(format!("{url}/auth/register"))
        .json(&body)
        .send()
        .await
        .expect("register");
    let token = access_token(&client, &url, &body).await;
    let me = client
        .get(format!("{url}/api/me?probe=1"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    let todo = client
        .get(format!("{url}/api/todos/{}", "0f".repeat(8)))
        .bearer_auth(&token)
        .send()
        .await
        .expect("todo");
    let wanted = [
        (
            "GET",
            "/api/me",
            200,
            me.headers()["x-request-id"]
                .to_str()
                .expect("id")
                .to_owned(),
        ),
        (
            "GET",
            "/api/todos/{id}",
            404,
            todo.headers()["x-request-id"]
                .to_str()
                .expect("id")
                .to_owned(),
        ),
    ];

    // Every stderr line is one JSON object; read until both access lines have come.
    let mut err = tokio::io::BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut found = 0;
    let mut all = String::new();
    while found < wanted.len() {
        let line = tokio::time::timeout(std::time::Duration::from_secs(10), err.next_line())
            .await
            .expect("the access lines within 10 s")
            .expect("stderr")
            .expect("the server still running");
        all.push_str(&line);
        let entry: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if entry["target"] != "jwtgate::access" {
            continue;
        }
        for (method, route, status, id) in &wanted {
            if entry["request_id"] == json!(id) {
                assert_eq!(entry["method"], json!(method), "{line}");
                assert_eq!(entry["route"], json!(route), "{line}");
                assert_eq!(entry["status"], json!(status), "{line}");
                assert!(entry["latency_us"].is_u64(), "{line}");
                found += 1;
            }
        }
    }
    assert!(!all.contains(&token), "a token reached the log");
    assert!(!all.contains("probe=1"), "a query string reached the log");
    assert!(
        !all.contains(&"0f".repeat(8)),
        "a path (not its template) reached the log"
    );
    let _ = child.kill().await;
}
