//! Signing keys in the database: the life of a key (published, active, retiring, removed),
//! rotation decided by one node, revocation followed by every node, the CLI and admin API,
//! HS256 secrets that change without logouts, keys of earlier versions imported once, the
//! master key, and the algorithm setting.

use std::collections::BTreeSet;

use jwtgate::clock::Clock;
use jwtgate::store::{NewKey, StoreError};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::admin::{send, sign_in, sign_in_admin};
use crate::cli::{jwtgate, text};
use crate::helpers::{TestApp, boot, problem, spawn_app, spawn_app_with};
use crate::tokens::decode_part;

const PREPUBLISH: i64 = 900;
const ROTATION: i64 = 30 * 24 * 3600;

fn header(token: &str) -> Value {
    decode_part(token, 0)
}

fn kid(token: &str) -> String {
    header(token)["kid"].as_str().expect("kid").to_owned()
}

async fn jwks_kids(app: &TestApp) -> BTreeSet<String> {
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .expect("json");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect()
}

pub async fn access_token(app: &TestApp, email: &str) -> String {
    let response = app.login(email, crate::helpers::PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    body["access_token"].as_str().expect("at").to_owned()
}

/// A second node on the first one's database, master key and clock (what a second process on
/// another machine with the same settings is).
pub async fn second_node(app: &TestApp) -> TestApp {
    let mut settings = app.settings.clone();
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    settings.issuer = Some(app.settings.issuer());
    boot(settings, app.clock.clone(), None).await
}

async fn key_rows(app: &TestApp) -> Vec<jwtgate::store::KeyRow> {
    app.store().signing_keys().await.expect("keys")
}

#[tokio::test]
async fn a_key_is_published_before_it_signs_and_verifies_until_its_tokens_expire() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let first = access_token(&app, "ada@example.com").await;
    let old = kid(&first);
    assert_eq!(jwks_kids(&app).await, BTreeSet::from([old.clone()]));

    // One second before the rotation is due: nothing new. (A first key is dated a minute
    // back, for the clock skew between nodes.)
    let activated = key_rows(&app).await[0].activate_at;
    app.clock
        .advance(activated + ROTATION - PREPUBLISH - 1 - app.clock.now());
    app.handle.signing().tick().await.expect("tick");
    assert_eq!(key_rows(&app).await.len(), 1);

    // Due: the next key is published, and does not sign yet.
    app.clock.advance(1);
    app.handle.signing().tick().await.expect("tick");
    let kids = jwks_kids(&app).await;
    assert_eq!(kids.len(), 2, "{kids:?}");
    let new = kids.iter().find(|k| **k != old).expect("new kid").clone();
    let before_switch = access_token(&app, "ada@example.com").await;
    assert_eq!(kid(&before_switch), old, "a published key does not sign");

    // The pre-publication time later, the new key signs; the old one's tokens still verify.
    app.clock.advance(PREPUBLISH);
    let after_switch = access_token(&app, "ada@example.com").await;
    assert_eq!(kid(&after_switch), new);
    for token in [&before_switch, &after_switch] {
        assert_eq!(
            app.get_bearer("/api/me", token).await.status(),
            StatusCode::OK
        );
    }
    let states: Vec<(String, String)> = app
        .handle
        .signing()
        .list()
        .into_iter()
        .map(|k| (k.kid, k.state.as_str().to_owned()))
        .collect();
    assert_eq!(
        states,
        vec![
            (old.clone(), "retiring".into()),
            (new.clone(), "active".into())
        ]
    );

    // Until every token the old key signed has expired (links live 72 h), it stays published;
    // then it leaves the JWKS and its private half is destroyed.
    let retain = 72 * 3600 + app.settings.leeway_secs + 60;
    app.clock.advance(retain - 1);
    app.handle.signing().tick().await.expect("tick");
    assert!(jwks_kids(&app).await.contains(&old));
    app.clock.advance(1);
    app.handle.signing().tick().await.expect("tick");
    assert_eq!(jwks_kids(&app).await, BTreeSet::from([new.clone()]));
    let rows = key_rows(&app).await;
    let old_row = rows.iter().find(|r| r.kid == old).expect("row");
    assert!(old_row.private_enc.is_none() && old_row.destroyed_at.is_some());
    let new_row = rows.iter().find(|r| r.kid == new).expect("row");
    assert!(new_row.private_enc.is_some());
}

#[tokio::test]
async fn the_jwks_max_age_follows_the_setting_and_the_prepublication_is_twice_it() {
    let app = spawn_app_with(|s| {
        s.jwks_max_age_secs = 60;
        s.key_prepublish_secs = 122;
    })
    .await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=60");
    let mut settings = app.settings.clone();
    settings.key_prepublish_secs = 121;
    let err = settings.validate().expect_err("too short");
    assert!(
        err.to_string()
            .contains("key_prepublish_secs must be at least"),
        "{err}"
    );
}

#[tokio::test]
async fn two_nodes_deciding_a_rotation_at_once_add_exactly_one_key() {
    let a = spawn_app().await;
    let b = second_node(&a).await;
    for round in 1..=10 {
        // The rotation of the key that signs now is due.
        a.clock.advance(ROTATION);
        let (ra, rb) = tokio::join!(a.handle.signing().tick(), b.handle.signing().tick());
        ra.expect("node a");
        rb.expect("node b");
        let rows = key_rows(&a).await;
        assert_eq!(rows.len(), round + 1, "round {round}: {rows:?}");
        // Both nodes see the same keys once each has read them.
        a.handle.signing().reload().await.expect("reload");
        b.handle.signing().reload().await.expect("reload");
        assert_eq!(jwks_kids(&a).await, jwks_kids(&b).await);
        // The new key signs: the next round's rotation is due from it.
        a.clock.advance(PREPUBLISH);
        a.handle.signing().tick().await.expect("tick");
    }
}

#[tokio::test]
async fn nodes_starting_together_on_a_new_database_make_one_master_key_and_one_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = crate::helpers::test_settings(dir.path().to_owned());
    let database = crate::database::create().await;
    if let Some(db) = &database {
        settings.database_url = Some(jwtgate::config::SecretString::new(db.url()));
    }
    settings.issuer = Some("http://jwtgate.test".into());
    let clock = Clock::manual(crate::helpers::START);
    let nodes = boot_at_once(&settings, &clock, 4).await;
    assert_eq!(key_rows(&nodes[0]).await.len(), 1);
    let signers: BTreeSet<String> = nodes
        .iter()
        .map(|n| n.handle.signing().signer().expect("signs").kid().to_owned())
        .collect();
    assert_eq!(signers.len(), 1, "every node signs with the one key");
    drop(database);
}

/// `n` nodes booted at once on the same settings.
async fn boot_at_once(
    settings: &jwtgate::config::Settings,
    clock: &Clock,
    n: usize,
) -> Vec<TestApp> {
    let boots = (0..n).map(|_| {
        let (settings, clock) = (settings.clone(), clock.clone());
        tokio::spawn(async move { boot(settings, clock, None).await })
    });
    let mut nodes = Vec::new();
    for node in boots.collect::<Vec<_>>() {
        nodes.push(node.await.expect("node booted"));
    }
    nodes
}

#[tokio::test]
async fn a_second_next_key_is_refused_by_the_database_when_the_lock_is_bypassed() {
    let app = spawn_app().await;
    let rows = key_rows(&app).await;
    let taken = rows.iter().map(|r| r.generation).max().expect("a key");
    let twin = NewKey {
        kid: "twin".into(),
        alg: "ES256".into(),
        public_jwk: rows[0].public_jwk.clone(),
        private_enc: vec![0; 40],
        publish_at: 0,
        activate_at: 0,
    };
    let err = app
        .store()
        .test_insert_signing_key(&twin, taken)
        .await
        .expect_err("generation taken");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(key_rows(&app).await.len(), 1);
}

#[tokio::test]
async fn a_key_revoked_from_the_cli_is_refused_by_every_running_node_within_a_key_poll() {
    // The system clock: the CLI is another process, on its own clock.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = crate::helpers::test_settings(dir.path().to_owned());
    let database = crate::database::create().await;
    if let Some(db) = &database {
        settings.database_url = Some(jwtgate::config::SecretString::new(db.url()));
    }
    let a = boot(settings, Clock::system(), None).await;
    let b = second_node(&a).await;
    a.signed_in("ada@example.com").await;
    let token = access_token(&a, "ada@example.com").await;
    let leaked = kid(&token);
    assert_eq!(
        b.get_bearer("/api/me", &token).await.status(),
        StatusCode::OK
    );

    let mut a_changes = a.handle.signing().changes();
    let mut b_changes = b.handle.signing().changes();
    let data_dir = a.settings.data_dir.display().to_string();
    let mut args = vec!["keys", "revoke", leaked.as_str(), "--data-dir", &data_dir];
    let url = a
        .settings
        .database_url
        .as_ref()
        .map(|u| u.expose().to_owned());
    if let Some(url) = &url {
        args.extend(["--database-url", url]);
    }
    let out = jwtgate(
        &args,
        &[
            ("JWTGATE_ALLOW_WEAK_PASSWORD_HASHING", "true"),
            ("JWTGATE_ARGON2_MEMORY_KIB", "64"),
            ("JWTGATE_ARGON2_ITERATIONS", "1"),
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("is revoked"),
        "{}",
        text(&out.stdout)
    );

    // Each node follows at its next key poll (every 2 s): wait for that, not for a time.
    for changes in [&mut a_changes, &mut b_changes] {
        tokio::time::timeout(std::time::Duration::from_secs(10), changes.changed())
            .await
            .expect("the node followed within a key poll")
            .expect("node running");
    }
    for node in [&a, &b] {
        let (status, code, _) = problem(node.get_bearer("/api/me", &token).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
        assert!(!jwks_kids(node).await.contains(&leaked));
    }
    // The next key signs at once, and every node takes its tokens.
    let fresh = access_token(&a, "ada@example.com").await;
    assert_ne!(kid(&fresh), leaked);
    assert_eq!(
        b.get_bearer("/api/me", &fresh).await.status(),
        StatusCode::OK
    );
    let revoked = key_rows(&a)
        .await
        .into_iter()
        .find(|r| r.kid == leaked)
        .expect("row");
    assert!(revoked.revoked_at.is_some() && revoked.private_enc.is_none());
    drop(database);
}

#[tokio::test]
async fn keys_list_and_rotate_from_the_cli_show_the_waiting_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data_dir = dir.path().display().to_string();
    let env = [
        ("JWTGATE_ALLOW_WEAK_PASSWORD_HASHING", "true"),
        ("JWTGATE_ARGON2_MEMORY_KIB", "64"),
        ("JWTGATE_ARGON2_ITERATIONS", "1"),
    ];
    let list = |args: &[&str]| {
        let out = jwtgate(args, &env, "");
        assert!(out.status.success(), "{}", text(&out.stderr));
        out
    };
    let listed: Value =
        serde_json::from_slice(&list(&["keys", "list", "--json", "--data-dir", &data_dir]).stdout)
            .expect("json");
    let keys = listed.as_array().expect("array");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["state"], "active");
    assert_eq!(keys[0]["alg"], "ES256");

    let rotated = list(&["keys", "rotate", "--data-dir", &data_dir]);
    assert!(
        text(&rotated.stdout).contains("is published"),
        "{}",
        text(&rotated.stdout)
    );
    let listed: Value =
        serde_json::from_slice(&list(&["keys", "list", "--json", "--data-dir", &data_dir]).stdout)
            .expect("json");
    let states: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|k| k["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["active", "published"]);
    let waiting = &listed[1];
    assert_eq!(
        waiting["activate_at"].as_i64().expect("at") - waiting["publish_at"].as_i64().expect("at"),
        PREPUBLISH
    );
    // A second rotate while a key waits adds nothing.
    list(&["keys", "rotate", "--data-dir", &data_dir]);
    let table = text(&list(&["keys", "list", "--data-dir", &data_dir]).stdout);
    assert_eq!(table.lines().count(), 3, "{table}");
    // An unknown kid is an error, not a success.
    let out = jwtgate(
        &["keys", "revoke", "nope", "--data-dir", &data_dir],
        &env,
        "",
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no key nope"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn administrators_list_rotate_and_revoke_keys_and_each_change_is_audited() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let user = sign_in(&app, "ada@example.com").await;
    for (method, path) in [
        (Method::GET, "/api/admin/keys"),
        (Method::POST, "/api/admin/keys/rotate"),
    ] {
        let (status, code, _) = problem(send(&app, method, path, &user.access, None).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "insufficient_scope")
        );
    }
    let response = send(
        &app,
        Method::POST,
        "/api/admin/keys/rotate",
        &admin.access,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["key"]["state"], "published");
    let waiting = body["key"]["kid"].as_str().expect("kid").to_owned();
    assert!(jwks_kids(&app).await.contains(&waiting));

    let (status, code, _) = problem(
        send(
            &app,
            Method::POST,
            "/api/admin/keys/nope/revoke",
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

    let path = format!("/api/admin/keys/{waiting}/revoke");
    let response = send(&app, Method::POST, &path, &admin.access, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["key"]["state"], "revoked");
    assert!(!jwks_kids(&app).await.contains(&waiting));

    let listed: Value = send(&app, Method::GET, "/api/admin/keys", &admin.access, None)
        .await
        .json()
        .await
        .expect("json");
    let states: Vec<&str> = listed["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["active", "revoked"]);
    let events = app.store().audit_page(None, None, 50).await.expect("audit");
    let key_events: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.event.starts_with("key_"))
        .map(|e| (e.event.as_str(), e.outcome.as_str()))
        .collect();
    assert_eq!(
        key_events,
        [
            ("key_revoked", "success"),
            ("key_revoked", "failure"),
            ("key_rotated", "success")
        ]
    );
}

#[tokio::test]
async fn revoking_the_signing_key_makes_the_waiting_key_sign_at_once() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let token = access_token(&app, "ada@example.com").await;
    let leaked = kid(&token);
    let waiting = app.handle.signing().rotate(None).await.expect("rotate").kid;
    app.handle.signing().revoke(&leaked).await.expect("revoke");
    let (status, code, _) = problem(app.get_bearer("/api/me", &token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let fresh = access_token(&app, "ada@example.com").await;
    assert_eq!(kid(&fresh), waiting, "the published key was promoted");
    assert_eq!(
        app.get_bearer("/api/me", &fresh).await.status(),
        StatusCode::OK
    );
    assert_eq!(jwks_kids(&app).await, BTreeSet::from([waiting]));
}

#[tokio::test]
async fn revoking_the_signing_key_with_none_waiting_makes_a_new_key_sign_never_an_older_one() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    app.handle.signing().rotate(None).await.expect("rotate");
    app.clock.advance(PREPUBLISH - 10);
    let first = access_token(&app, "ada@example.com").await;
    app.clock.advance(10);
    let leaked_token = access_token(&app, "ada@example.com").await;
    let leaked = kid(&leaked_token);
    assert_ne!(leaked, kid(&first));

    app.handle.signing().revoke(&leaked).await.expect("revoke");
    let fresh = access_token(&app, "ada@example.com").await;
    assert!(
        kid(&fresh) != leaked && kid(&fresh) != kid(&first),
        "a new key signs, not the retiring one"
    );
    assert_eq!(
        jwks_kids(&app).await,
        BTreeSet::from([kid(&first), kid(&fresh)])
    );
    // The retiring key was not leaked: its tokens still verify.
    assert_eq!(
        app.get_bearer("/api/me", &first).await.status(),
        StatusCode::OK
    );
    let (status, code, _) = problem(app.get_bearer("/api/me", &leaked_token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

const SECRET_A: &str = "first-secret-that-is-long-enough-for-hs256-use";
const SECRET_B: &str = "second-secret-that-is-long-enough-for-hs256-too";

/// Restarts `app` with other settings (same data dir, database and clock).
async fn restart_with(
    app: TestApp,
    change: impl FnOnce(&mut jwtgate::config::Settings),
) -> TestApp {
    let mut settings = app.settings.clone();
    change(&mut settings);
    let clock = app.clock.clone();
    let (dir, database) = app.stop().await;
    let mut next = boot(settings, clock, dir).await;
    next.keep_database(database);
    next
}

#[tokio::test]
async fn changing_jwt_secret_with_jwt_secret_previous_logs_nobody_out() {
    let app = spawn_app_with(|s| {
        s.jwt_secret = Some(jwtgate::config::SecretString::new(SECRET_A.to_owned()))
    })
    .await;
    app.signed_in("ada@example.com").await;
    let old = access_token(&app, "ada@example.com").await;
    assert_eq!(header(&old)["alg"], "HS256");
    assert!(
        jwks_kids(&app).await.is_empty(),
        "a shared secret is never published"
    );

    let app = restart_with(app, |s| {
        s.jwt_secret = Some(jwtgate::config::SecretString::new(SECRET_B.to_owned()));
        s.jwt_secret_previous = vec![jwtgate::config::SecretString::new(SECRET_A.to_owned())];
    })
    .await;
    assert_eq!(
        app.get_bearer("/api/me", &old).await.status(),
        StatusCode::OK
    );
    let new = access_token(&app, "ada@example.com").await;
    assert_ne!(kid(&new), kid(&old), "each secret has its own kid");
    assert!(!kid(&new).contains(SECRET_B) && !kid(&old).contains(SECRET_A));

    // Without the previous secret, its tokens are refused.
    let app = restart_with(app, |s| s.jwt_secret_previous.clear()).await;
    let (status, code, _) = problem(app.get_bearer("/api/me", &old).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    assert_eq!(
        app.get_bearer("/api/me", &new).await.status(),
        StatusCode::OK
    );
    let (status, code, _) = problem(
        send(
            &app,
            Method::POST,
            "/api/admin/keys/rotate",
            &sign_in_admin(&app, "root@example.com").await.access,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "keys_from_secret")
    );
}

#[tokio::test]
async fn key_files_of_an_earlier_version_are_imported_once_and_es256_is_prepublished() {
    use base64::Engine as _;
    use jwtgate_verify::{Algorithm, Key};
    let legacy = Key::generate(Algorithm::EdDSA).expect("key");
    let legacy_kid = legacy.kid().to_owned();
    let pem = legacy.to_pkcs8_pem().expect("pem");
    let csrf = [7u8; 32];
    let app = spawn_app_with(|s| {
        std::fs::write(s.data_dir.join("signing-key.pem"), &pem).expect("write");
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(csrf);
        std::fs::write(s.data_dir.join("csrf-hmac.key"), b64).expect("write");
    })
    .await;
    // The old key signs on: tokens minted before the upgrade stay good, verifiers see no change.
    app.signed_in("ada@example.com").await;
    let token = access_token(&app, "ada@example.com").await;
    assert_eq!(kid(&token), legacy_kid);
    assert_eq!(header(&token)["alg"], "EdDSA");
    for file in ["signing-key.pem", "csrf-hmac.key"] {
        assert!(
            !app.data_dir.join(file).exists(),
            "{file} left in plain text"
        );
    }
    // The configured algorithm (ES256 by default) is published now and signs later.
    let listed = app.handle.signing().list();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (listed[0].alg, listed[0].state.as_str()),
        ("EdDSA", "active")
    );
    assert_eq!(
        (listed[1].alg, listed[1].state.as_str()),
        ("ES256", "published")
    );
    app.clock.advance(PREPUBLISH);
    let next = access_token(&app, "ada@example.com").await;
    assert_eq!(header(&next)["alg"], "ES256");
    assert_eq!(
        app.get_bearer("/api/me", &token).await.status(),
        StatusCode::OK
    );

    // The CSRF key was the file's: a session's CSRF token is the HMAC of its id under it.
    let response = app
        .post_json(
            "/auth/login",
            &serde_json::json!({"email": "ada@example.com", "password": crate::helpers::PASSWORD, "transport": "cookie"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let access =
        crate::helpers::cookie_value(&crate::helpers::set_cookies(&response)["__Host-jwtgate_at"]);
    let body: Value = response.json().await.expect("json");
    let sid = decode_part(&access, 1)["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    let expected = {
        use aws_lc_rs::hmac;
        use base64::Engine as _;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &csrf);
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(hmac::sign(&key, sid.as_bytes()).as_ref())
    };
    assert_eq!(body["csrf_token"], expected.as_str());

    // A restart imports nothing twice.
    let app = app.restart().await;
    assert_eq!(key_rows(&app).await.len(), 2);
}

#[tokio::test]
async fn a_master_key_that_does_not_open_the_stored_keys_is_refused_at_start() {
    let app = spawn_app().await;
    let other = tempfile::tempdir().expect("tempdir");
    let path = other.path().join("other.key");
    std::fs::write(&path, text(&jwtgate(&["secret"], &[], "").stdout).trim()).expect("write");
    let mut settings = app.settings.clone();
    settings.listen = "127.0.0.1:0".parse().expect("addr");
    settings.master_key_file = Some(path);
    let err = jwtgate::startup::Application::build_with_clock(settings, app.clock.clone())
        .await
        .expect_err("refused");
    let message = format!("{err:#}");
    assert!(message.contains("master_key_file"), "{message}");
}

#[tokio::test]
async fn a_configured_master_key_file_must_exist() {
    let app_dir = tempfile::tempdir().expect("tempdir");
    let mut settings = crate::helpers::test_settings(app_dir.path().to_owned());
    settings.master_key_file = Some(app_dir.path().join("missing.key"));
    let err = jwtgate::startup::Application::build_with_clock(settings, Clock::manual(0))
        .await
        .expect_err("refused");
    assert!(format!("{err:#}").contains("missing.key"), "{err:#}");
}

#[tokio::test]
async fn signing_key_alg_generates_keys_of_that_algorithm() {
    use jwtgate::config::PemAlgorithm;
    for (alg, name) in [
        (PemAlgorithm::EdDSA, "EdDSA"),
        (PemAlgorithm::RS256, "RS256"),
        (PemAlgorithm::ES256, "ES256"),
    ] {
        let app = spawn_app_with(|s| s.signing_key_alg = alg).await;
        app.signed_in("ada@example.com").await;
        let token = access_token(&app, "ada@example.com").await;
        assert_eq!(header(&token)["alg"], name);
        assert_eq!(
            app.get_bearer("/api/me", &token).await.status(),
            StatusCode::OK
        );
    }
}

/// Issue 13's follow test for `jwtgate-verify` (the Node verifiers' twin is
/// web/tests/verifiers.test.mjs): a server rotating every 6 s on the system clock, a remote
/// JWKS that follows `Cache-Control` (max-age 1 s). Every first token of a new key finds the key
/// already fetched (no unknown-`kid` refetch), and the old key's last token still verifies after
/// the switch.
#[tokio::test]
async fn jwtgate_verify_follows_rotations_without_an_unknown_kid_refetch() {
    use std::sync::Arc;
    use std::time::Duration;

    use jwtgate_verify::remote::RemoteJwks;
    use jwtgate_verify::{KeySet, Policy, Verifier};

    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = crate::helpers::test_settings(dir.path().to_owned());
    let database = crate::database::create().await;
    if let Some(db) = &database {
        settings.database_url = Some(jwtgate::config::SecretString::new(db.url()));
    }
    settings.jwks_max_age_secs = 1;
    settings.key_prepublish_secs = 4;
    settings.key_rotation_secs = 6;
    settings.access_token_ttl_secs = 30;
    // A sign-in every 250 ms, each session kept (the old tokens are checked by the server too).
    settings.login_successes_per_minute = 1000;
    settings.max_sessions_per_user = 1000;
    let app = boot(settings, Clock::system(), Some(dir)).await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=1");
    app.signed_in("ada@example.com").await;

    let policy = Policy::new(app.settings.issuer(), "jwtgate");
    let verifier = Arc::new(Verifier::new(KeySet::empty(), policy));
    let remote = Arc::new(
        RemoteJwks::builder(app.url("/.well-known/jwks.json"), verifier)
            .allow_plain_http()
            .max_age_bounds(Duration::from_secs(1), Duration::from_secs(60))
            // An unknown kid would be fetched at once, then not again for a minute: a miss
            // shows as a failed verification, not as a quiet extra fetch.
            .cooldown(Duration::from_secs(60))
            .connect()
            .await
            .expect("connect"),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let background = tokio::spawn(Arc::clone(&remote).run(async move {
        let _ = stopped.await;
    }));

    // Sign in every 250 ms until the signing key has changed twice.
    let mut pace = tokio::time::interval(Duration::from_millis(250));
    let mut last: Option<String> = None;
    let mut switches = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while switches.len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no two rotations within 60 s"
        );
        pace.tick().await;
        let token = access_token(&app, "ada@example.com").await;
        let signer = kid(&token);
        if let Some(previous) = last.as_ref().filter(|p| kid(p) != signer) {
            assert!(
                remote.verifier().keys().get(&signer).is_some(),
                "the first token of {signer} came before the verifier had its key"
            );
            switches.push(previous.clone());
        }
        remote.verify(&token).await.expect("verifies");
        last = Some(token);
    }
    // The old keys' last tokens still verify after the switch (they have not expired).
    for old in &switches {
        remote
            .verify(old)
            .await
            .expect("an old key's token verifies");
        assert_eq!(
            app.get_bearer("/api/me", old).await.status(),
            StatusCode::OK
        );
    }
    let _ = stop.send(());
    background.await.expect("remote task");
    drop(database);
}

// The ID tokens' chain: RS256 keys beside the access tokens' chain, started by the first ID
// token, kept, rotated and revoked on their own.

const RETAIN: i64 = 72 * 3600 + 60;

/// Every key now as `(alg, state, purpose)`, the purposes joined by a space.
fn chains(app: &TestApp) -> Vec<(&'static str, &'static str, String)> {
    app.handle
        .signing()
        .list()
        .into_iter()
        .map(|k| {
            let purpose: Vec<&str> = k.purpose.iter().map(|p| p.as_str()).collect();
            (k.alg, k.state.as_str(), purpose.join(" "))
        })
        .collect()
}

fn chain(
    alg: &'static str,
    state: &'static str,
    purpose: &str,
) -> (&'static str, &'static str, String) {
    (alg, state, purpose.to_owned())
}

/// The keys as [`chains`] shows them at `at`, after that instant's key poll.
async fn tick_at(app: &TestApp, at: i64) -> Vec<(&'static str, &'static str, String)> {
    app.clock.advance(at - app.clock.now());
    app.handle.signing().tick().await.expect("tick");
    chains(app)
}

async fn id_token_kid(app: &TestApp) -> String {
    let key = app
        .handle
        .signing()
        .id_token_signer()
        .await
        .expect("ID tokens' key");
    assert_eq!(key.algorithm().name(), "RS256");
    key.kid().to_owned()
}

/// How long each retained key stays in the JWKS after it stopped signing, in `app`.
fn retain(app: &TestApp) -> i64 {
    RETAIN + app.settings.leeway_secs
}

#[tokio::test]
async fn starting_the_id_token_chain_publishes_an_rs256_key_beside_the_es256_one() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let access = kid(&access_token(&app, "ada@example.com").await);
    assert_eq!(
        key_rows(&app).await.len(),
        1,
        "no RSA key is made before an ID token is signed"
    );

    let id = id_token_kid(&app).await;
    assert_eq!(
        jwks_kids(&app).await,
        BTreeSet::from([access.clone(), id.clone()])
    );
    assert_eq!(kid(&access_token(&app, "ada@example.com").await), access);
    assert_eq!(id_token_kid(&app).await, id, "the chain is started once");
    let rows = key_rows(&app).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[1].activate_at,
        app.clock.now() - 60,
        "the first key signs at once"
    );
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    // The ID-token chain signs no access token.
    assert_eq!(
        discovery["access_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );

    let admin = sign_in_admin(&app, "root@example.com").await;
    let listed: Value = send(&app, Method::GET, "/api/admin/keys", &admin.access, None)
        .await
        .json()
        .await
        .expect("json");
    let shown: Vec<(&str, &str, Value)> = listed["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            (
                k["alg"].as_str().expect("alg"),
                k["state"].as_str().expect("state"),
                k["purpose"].clone(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("ES256", "active", serde_json::json!(["access_token"])),
            ("RS256", "active", serde_json::json!(["id_token"]))
        ]
    );
}

#[tokio::test]
async fn each_chain_rotates_and_retires_on_its_own_schedule() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let es1 = kid(&access_token(&app, "ada@example.com").await);
    let es1_at = key_rows(&app).await[0].activate_at;
    app.clock.advance(ROTATION / 2);
    let rs1 = id_token_kid(&app).await;
    let rs1_at = key_rows(&app).await[1].activate_at;

    // The access tokens' rotation is due: an ES256 key is published, the RS256 key signs on.
    let es2_at = es1_at + ROTATION;
    assert_eq!(
        tick_at(&app, es2_at - PREPUBLISH).await,
        [
            chain("ES256", "active", "access_token"),
            chain("RS256", "active", "id_token"),
            chain("ES256", "published", "access_token"),
        ]
    );
    assert_eq!(
        tick_at(&app, es2_at).await,
        [
            chain("ES256", "retiring", "access_token"),
            chain("RS256", "active", "id_token"),
            chain("ES256", "active", "access_token"),
        ]
    );
    let es2 = kid(&access_token(&app, "ada@example.com").await);
    assert_ne!(es2, es1);
    assert_eq!(id_token_kid(&app).await, rs1);

    // The ID tokens' rotation is due: an RS256 key is published, the ES256 key signs on.
    let rs2_at = rs1_at + ROTATION;
    assert_eq!(
        tick_at(&app, rs2_at - PREPUBLISH).await,
        [
            chain("ES256", "removed", "access_token"),
            chain("RS256", "active", "id_token"),
            chain("ES256", "active", "access_token"),
            chain("RS256", "published", "id_token"),
        ]
    );
    assert_eq!(
        tick_at(&app, rs2_at).await,
        [
            chain("ES256", "removed", "access_token"),
            chain("RS256", "retiring", "id_token"),
            chain("ES256", "active", "access_token"),
            chain("RS256", "active", "id_token"),
        ]
    );
    let rs2 = id_token_kid(&app).await;
    assert_ne!(rs2, rs1);
    assert_eq!(kid(&access_token(&app, "ada@example.com").await), es2);
    assert_eq!(
        jwks_kids(&app).await,
        BTreeSet::from([rs1.clone(), es2.clone(), rs2.clone()])
    );

    // The retired RS256 key leaves the JWKS once its tokens have expired; the ES256 key that
    // was removed has lost its private half.
    tick_at(&app, rs2_at + retain(&app)).await;
    assert_eq!(jwks_kids(&app).await, BTreeSet::from([es2, rs2]));
    let destroyed: Vec<bool> = key_rows(&app)
        .await
        .iter()
        .map(|r| r.private_enc.is_none() && r.destroyed_at.is_some())
        .collect();
    assert_eq!(destroyed, [true, true, false, false]);
}

#[tokio::test]
async fn revoking_the_id_token_key_makes_a_new_rs256_key_sign_at_once_and_access_tokens_stay_valid()
{
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let token = access_token(&app, "ada@example.com").await;
    let leaked = id_token_kid(&app).await;

    app.handle.signing().revoke(&leaked).await.expect("revoke");
    let fresh = id_token_kid(&app).await;
    assert_ne!(fresh, leaked);
    let rows = key_rows(&app).await;
    assert_eq!(
        rows[2].activate_at,
        app.clock.now() - 60,
        "it signs at once"
    );
    assert_eq!(
        chains(&app),
        [
            chain("ES256", "active", "access_token"),
            chain("RS256", "revoked", "id_token"),
            chain("RS256", "active", "id_token"),
        ]
    );
    assert_eq!(
        app.get_bearer("/api/me", &token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        kid(&access_token(&app, "ada@example.com").await),
        kid(&token)
    );
    assert_eq!(jwks_kids(&app).await, BTreeSet::from([kid(&token), fresh]));
}

#[tokio::test]
async fn revoking_the_access_token_key_leaves_the_id_token_key_signing() {
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let token = access_token(&app, "ada@example.com").await;
    let id = id_token_kid(&app).await;

    app.handle
        .signing()
        .revoke(&kid(&token))
        .await
        .expect("revoke");
    let (status, code, _) = problem(app.get_bearer("/api/me", &token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let fresh = access_token(&app, "ada@example.com").await;
    assert_eq!(header(&fresh)["alg"], "ES256");
    assert_ne!(kid(&fresh), kid(&token));
    assert_eq!(id_token_kid(&app).await, id);
    assert_eq!(
        chains(&app),
        [
            chain("ES256", "revoked", "access_token"),
            chain("RS256", "active", "id_token"),
            chain("ES256", "active", "access_token"),
        ]
    );
}

#[tokio::test]
async fn switching_signing_key_alg_to_eddsa_retires_es256_but_not_the_id_token_chain() {
    use jwtgate::config::PemAlgorithm;
    let app = spawn_app().await;
    app.signed_in("ada@example.com").await;
    let es = kid(&access_token(&app, "ada@example.com").await);
    let id = id_token_kid(&app).await;

    let app = restart_with(app, |s| s.signing_key_alg = PemAlgorithm::EdDSA).await;
    assert_eq!(
        chains(&app),
        [
            chain("ES256", "active", "access_token"),
            chain("RS256", "active", "id_token"),
            chain("EdDSA", "published", "access_token"),
        ]
    );
    assert_eq!(kid(&access_token(&app, "ada@example.com").await), es);
    app.clock.advance(PREPUBLISH);
    let eddsa = access_token(&app, "ada@example.com").await;
    assert_eq!(header(&eddsa)["alg"], "EdDSA");
    assert_eq!(id_token_kid(&app).await, id);

    assert_eq!(
        tick_at(&app, app.clock.now() + retain(&app)).await,
        [
            chain("ES256", "removed", "access_token"),
            chain("RS256", "active", "id_token"),
            chain("EdDSA", "active", "access_token"),
        ]
    );
    assert_eq!(jwks_kids(&app).await, BTreeSet::from([id, kid(&eddsa)]));
}

#[tokio::test]
async fn two_nodes_starting_the_id_token_chain_at_once_add_one_key() {
    let a = spawn_app().await;
    let b = second_node(&a).await;
    let (ka, kb) = tokio::join!(
        a.handle.signing().id_token_signer(),
        b.handle.signing().id_token_signer()
    );
    let (ka, kb) = (ka.expect("node a"), kb.expect("node b"));
    assert_eq!(ka.kid(), kb.kid());
    let algs: Vec<String> = key_rows(&a).await.into_iter().map(|r| r.alg).collect();
    assert_eq!(algs, ["ES256", "RS256"]);
}

#[tokio::test]
async fn with_jwt_secret_the_id_token_chain_is_kept_beside_hs256_access_tokens() {
    use jwtgate_verify::Algorithm;
    let app = spawn_app_with(|s| {
        s.jwt_secret = Some(jwtgate::config::SecretString::new(SECRET_A.to_owned()))
    })
    .await;
    app.signed_in("ada@example.com").await;
    let rs1 = id_token_kid(&app).await;
    assert_eq!(
        header(&access_token(&app, "ada@example.com").await)["alg"],
        "HS256"
    );
    assert_eq!(jwks_kids(&app).await, BTreeSet::from([rs1.clone()]));
    let signing = app.handle.signing();
    let refused = signing.rotate(None).await.expect_err("JWT_SECRET signs");
    assert!(refused.to_string().contains("JWT_SECRET"), "{refused}");
    let refused = signing
        .rotate(Some(Algorithm::EdDSA))
        .await
        .expect_err("no EdDSA chain");
    assert!(
        refused.to_string().contains("no EdDSA keys are in use"),
        "{refused}"
    );

    // The key poll rotates the ID tokens' chain and destroys what it retired.
    let rs2_at = key_rows(&app).await[0].activate_at + ROTATION;
    tick_at(&app, rs2_at - PREPUBLISH).await;
    assert_eq!(
        tick_at(&app, rs2_at).await,
        [
            chain("HS256", "active", "access_token"),
            chain("RS256", "retiring", "id_token"),
            chain("RS256", "active", "id_token"),
        ]
    );
    let rs2 = id_token_kid(&app).await;
    assert_ne!(rs2, rs1);
    tick_at(&app, rs2_at + retain(&app)).await;
    assert_eq!(jwks_kids(&app).await, BTreeSet::from([rs2]));
    let rows = key_rows(&app).await;
    assert!(rows[0].private_enc.is_none() && rows[0].destroyed_at.is_some());
}

#[tokio::test]
async fn with_signing_key_alg_rs256_access_and_id_tokens_share_one_key() {
    use jwtgate::config::PemAlgorithm;
    let app = spawn_app_with(|s| s.signing_key_alg = PemAlgorithm::RS256).await;
    let id = id_token_kid(&app).await;
    assert_eq!(app.handle.signing().signer().expect("signs").kid(), id);
    assert_eq!(
        chains(&app),
        [chain("RS256", "active", "access_token id_token")]
    );
}

/// `jwtgate WORDS` on `app`'s data dir and database, run off this runtime's thread so that the
/// app (its key poll holding the SQLite write lock a moment) goes on meanwhile.
async fn cli(app: &TestApp, words: &[&str]) -> std::process::Output {
    let mut args: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
    args.extend([
        "--data-dir".to_owned(),
        app.settings.data_dir.display().to_string(),
    ]);
    if let Some(url) = &app.settings.database_url {
        args.extend(["--database-url".to_owned(), url.expose().to_owned()]);
    }
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        jwtgate(
            &args,
            &[
                ("JWTGATE_ALLOW_WEAK_PASSWORD_HASHING", "true"),
                ("JWTGATE_ARGON2_MEMORY_KIB", "64"),
                ("JWTGATE_ARGON2_ITERATIONS", "1"),
            ],
            "",
        )
    })
    .await
    .expect("the CLI ran")
}

#[tokio::test]
async fn keys_rotate_alg_rs256_from_the_cli_rotates_the_id_token_chain() {
    // The system clock: the CLI is another process, on its own clock.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = crate::helpers::test_settings(dir.path().to_owned());
    let database = crate::database::create().await;
    if let Some(db) = &database {
        settings.database_url = Some(jwtgate::config::SecretString::new(db.url()));
    }
    let app = boot(settings, Clock::system(), None).await;
    let refused = cli(&app, &["keys", "rotate", "--alg", "RS256"]).await;
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("no RS256 keys are in use"),
        "{}",
        text(&refused.stderr)
    );
    let id = id_token_kid(&app).await;
    let rotated = cli(&app, &["keys", "rotate", "--alg", "RS256"]).await;
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(
        text(&rotated.stdout).contains("(RS256) is published"),
        "{}",
        text(&rotated.stdout)
    );
    let listed = cli(&app, &["keys", "list", "--json"]).await;
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("json");
    let shown: Vec<(&str, &str, &str, Value)> = listed
        .as_array()
        .expect("array")
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().expect("kid"),
                k["alg"].as_str().expect("alg"),
                k["state"].as_str().expect("state"),
                k["purpose"].clone(),
            )
        })
        .collect();
    assert_eq!(shown.len(), 3, "{shown:?}");
    assert_eq!(
        shown[..2]
            .iter()
            .map(|k| (k.1, k.2, k.3.clone()))
            .collect::<Vec<_>>(),
        [
            ("ES256", "active", serde_json::json!(["access_token"])),
            ("RS256", "active", serde_json::json!(["id_token"])),
        ]
    );
    assert_eq!(shown[1].0, id);
    assert_eq!(
        (shown[2].1, shown[2].2, shown[2].3.clone()),
        ("RS256", "published", serde_json::json!(["id_token"]))
    );
    let table = text(&cli(&app, &["keys", "list"]).await.stdout);
    assert!(table.contains("access_token"), "{table}");

    // Revoking the ID tokens' key promotes the RS256 key that waits, and says so.
    let revoked = cli(&app, &["keys", "revoke", &id]).await;
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    assert!(
        text(&revoked.stdout).ends_with(&format!("; {} signs\n", shown[2].0)),
        "{}",
        text(&revoked.stdout)
    );

    let refused = cli(&app, &["keys", "rotate", "--alg", "EdDSA"]).await;
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("no EdDSA keys are in use"),
        "{}",
        text(&refused.stderr)
    );
    drop(database);
}
