//! The revocation feed (`/revocations`, `/revocations/stream`) for services that verify on
//! their own: only a live feed credential reads it; every kind of revocation is in it, in
//! order, saying until when it matters; the stream sends a hello, the entries, and a heartbeat
//! after every read that found nothing, and resumes from `Last-Event-ID`; a cursor from another
//! log, or past the head, reads from the start; and a service using `jwtgate-verify`'s
//! `RevocationFeed` refuses a logged-out token within a second, and applies its staleness
//! policy once the feed is gone; and a Python service (PyJWT, as the README writes it) verifies
//! jwtgate's tokens. On SQLite and on PostgreSQL alike.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jwtgate::Clock;
use jwtgate_verify::remote::{RemoteJwks, RevocationFeed, WhenStale};
use jwtgate_verify::{Error as VerifyError, KeySet, Policy, Verifier};
use reqwest::{Method, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::admin::{send, sign_in, sign_in_admin};
use crate::helpers::{START, TestApp, boot, problem, spawn_app, spawn_app_with, test_settings};
use crate::tokens::decode_part;

async fn credential(app: &TestApp) -> String {
    app.handle
        .feed()
        .add_credential("orders-api")
        .await
        .expect("a credential")
        .1
}

/// Revokes the app's one feed credential, as `jwtgate feed-credential revoke ID` does.
async fn revoke_the_credential(app: &TestApp) {
    let feed = app.handle.feed();
    let id = feed.credentials().await.expect("list")[0].id.clone();
    feed.revoke_credential(&id).await.expect("revoke");
}

async fn feed(app: &TestApp, query: &str, secret: &str) -> Response {
    app.client
        .get(app.url(&format!("/revocations{query}")))
        .bearer_auth(secret)
        .send()
        .await
        .expect("request")
}

async fn page(app: &TestApp, query: &str, secret: &str) -> Value {
    let response = feed(app, query, secret).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    response.json().await.expect("json")
}

fn sid(access: &str) -> String {
    decode_part(access, 1)["sid"]
        .as_str()
        .expect("sid")
        .to_owned()
}

#[tokio::test]
async fn the_feed_is_refused_without_a_live_credential() {
    let app = spawn_app().await;
    let secret = credential(&app).await;
    let signed = sign_in(&app, "ada@example.com").await;

    for path in ["/revocations", "/revocations/stream"] {
        let bare = app.get(path).await;
        let www = bare.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .expect("ascii")
            .to_owned();
        let (status, code, _) = problem(bare).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "missing_credentials")
        );
        assert!(www.starts_with("Bearer"), "{www}");
        // A feed secret that was never made, something that is no feed secret, and a user's
        // access token: the same answer, and no byte of the feed.
        for wrong in [
            "jgf_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "not-a-feed-secret",
            signed.access.as_str(),
        ] {
            let response = app.get_bearer(path, wrong).await;
            let (status, code, _) = problem(response).await;
            assert_eq!(
                (status, code.as_str()),
                (StatusCode::UNAUTHORIZED, "invalid_token")
            );
        }
    }

    assert_eq!(feed(&app, "", &secret).await.status(), StatusCode::OK);
    revoke_the_credential(&app).await;
    let (status, code, _) = problem(feed(&app, "", &secret).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let listed = app.handle.feed().credentials().await.expect("list");
    assert!(listed[0].revoked_at.is_some());
}

#[tokio::test]
async fn every_kind_of_revocation_is_in_the_feed_in_order_with_its_end() {
    let app = spawn_app().await;
    let secret = credential(&app).await;
    let horizon = app.settings.access_token_ttl_secs + app.settings.leeway_secs;
    let start = page(&app, "?after=0", &secret).await;
    let log_id = start["log_id"].as_str().expect("log_id").to_owned();
    let cursor = start["next"].as_i64().expect("next");

    // A logout, a role change (a user cut-off), a key revocation.
    let ada = sign_in(&app, "ada@example.com").await;
    assert_eq!(
        app.logout(&ada.access).await.status(),
        StatusCode::NO_CONTENT
    );
    let root = sign_in_admin(&app, "root@example.com").await;
    let bob = sign_in(&app, "bob@example.com").await;
    let roles = send(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{}/roles", bob.id),
        &root.access,
        Some(json!({"roles": ["admin"]})),
    )
    .await;
    assert_eq!(roles.status(), StatusCode::OK);
    let rotated = app.handle.signing().rotate(None).await.expect("rotate");
    app.handle
        .signing()
        .revoke(&rotated.kid)
        .await
        .expect("revoke");

    let read = page(&app, &format!("?after={cursor}&log_id={log_id}"), &secret).await;
    assert_eq!(read["log_id"], json!(log_id));
    assert_eq!(read["reset"], json!(false));
    let entries = read["entries"].as_array().expect("entries");
    let now = START;
    assert_eq!(
        entries
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.as_object_mut().expect("an object").remove("seq");
                e
            })
            .collect::<Vec<_>>(),
        vec![
            json!({"type": "session", "session": sid(&ada.access), "until": now + horizon}),
            json!({"type": "user", "user": bob.id, "issued_before": now + 1,
                   "until": now + 1 + horizon}),
            json!({"type": "key", "kid": rotated.kid, "until": now + horizon}),
        ]
    );
    let seqs: Vec<i64> = entries
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(read["next"], json!(seqs[2]));
    assert_eq!(read["head"], json!(seqs[2]));
    assert_eq!(read["more"], json!(false));

    // Nothing after the last one.
    let after = page(&app, &format!("?after={}", seqs[2]), &secret).await;
    assert_eq!(after["entries"], json!([]));
    assert_eq!(after["next"], json!(seqs[2]));
}

#[tokio::test]
async fn a_cursor_from_another_log_or_past_the_head_reads_from_the_start() {
    let app = spawn_app().await;
    let secret = credential(&app).await;
    let ada = sign_in(&app, "ada@example.com").await;
    assert_eq!(
        app.logout(&ada.access).await.status(),
        StatusCode::NO_CONTENT
    );
    let head = page(&app, "", &secret).await["head"]
        .as_i64()
        .expect("head");

    for query in [
        format!("?after={}", head + 100),
        format!("?after={head}&log_id=another-log"),
    ] {
        let read = page(&app, &query, &secret).await;
        assert_eq!(read["reset"], json!(true), "{query}");
        assert_eq!(read["entries"][0]["session"], json!(sid(&ada.access)));
    }
}

#[tokio::test]
async fn bad_cursors_are_refused_with_400() {
    let app = spawn_app().await;
    let secret = credential(&app).await;
    for query in ["?after=-1", "?after=abc", "?after=99999999999999999999"] {
        let (status, code, _) = problem(feed(&app, query, &secret).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_query"),
            "{query}"
        );
    }
    let response = app
        .client
        .get(app.url("/revocations/stream"))
        .bearer_auth(&secret)
        .header("Last-Event-ID", "x")
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
}

/// A stream's frames, read as they come.
struct Stream {
    response: Response,
    buffer: String,
}

#[derive(Debug, PartialEq)]
struct Frame {
    id: Option<String>,
    event: Option<String>,
    data: String,
    comment: bool,
}

impl Stream {
    async fn open(app: &TestApp, secret: &str, last_event_id: Option<i64>) -> Stream {
        let mut request = app
            .client
            .get(app.url("/revocations/stream"))
            .bearer_auth(secret);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("stream");
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
        assert_eq!(headers["x-accel-buffering"], "no");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        Stream {
            response,
            buffer: String::new(),
        }
    }

    /// The next frame within `within`; `None` if the stream ended.
    async fn next(&mut self, within: Duration) -> Option<Frame> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame {
                    id: None,
                    event: None,
                    data: String::new(),
                    comment: false,
                };
                for line in raw.lines() {
                    if line.starts_with(':') {
                        frame.comment = true;
                    } else if let Some((field, value)) = line.split_once(':') {
                        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                        match field {
                            "id" => frame.id = Some(value),
                            "event" => frame.event = Some(value),
                            "data" => frame.data = value,
                            _ => {}
                        }
                    }
                }
                return Some(frame);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .expect("a frame in time")
                .expect("read");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk?));
        }
    }
}

#[tokio::test]
async fn the_stream_sends_a_hello_the_entries_and_heartbeats_and_resumes_from_last_event_id() {
    let app = spawn_app_with(|s| s.feed_heartbeat_secs = 1).await;
    let secret = credential(&app).await;
    let ada = sign_in(&app, "ada@example.com").await;
    let mut stream = Stream::open(&app, &secret, None).await;
    let hello = stream.next(Duration::from_secs(5)).await.expect("hello");
    assert_eq!(hello.event.as_deref(), Some("hello"));
    let hello: Value = serde_json::from_str(&hello.data).expect("json");
    assert_eq!(hello["reset"], json!(false));
    assert!(
        hello["log_id"].is_string() && hello["node"].is_string(),
        "{hello}"
    );
    // Nothing revoked yet: the first read ends in a heartbeat.
    assert!(
        stream
            .next(Duration::from_secs(5))
            .await
            .expect("heartbeat")
            .comment
    );

    // The logout is pushed at once: it is the next event, well before the next heartbeat.
    assert_eq!(
        app.logout(&ada.access).await.status(),
        StatusCode::NO_CONTENT
    );
    let revoked = stream
        .next(Duration::from_millis(900))
        .await
        .expect("the entry");
    assert_eq!(revoked.event.as_deref(), Some("revoked"));
    let entry: Value = serde_json::from_str(&revoked.data).expect("json");
    assert_eq!(entry["session"], json!(sid(&ada.access)));
    let seq = entry["seq"].as_i64().expect("seq");
    assert_eq!(revoked.id, Some(seq.to_string()));
    // Quiet again: a heartbeat comes within the heartbeat interval.
    assert!(
        stream
            .next(Duration::from_secs(3))
            .await
            .expect("heartbeat")
            .comment
    );

    // Resuming after the entry: a hello, then a heartbeat, not the entry again.
    let mut resumed = Stream::open(&app, &secret, Some(seq)).await;
    assert_eq!(
        resumed
            .next(Duration::from_secs(5))
            .await
            .expect("hello")
            .event
            .as_deref(),
        Some("hello")
    );
    assert!(
        resumed
            .next(Duration::from_secs(5))
            .await
            .expect("heartbeat")
            .comment
    );
    // Resuming from before it: the entry again.
    let mut again = Stream::open(&app, &secret, Some(seq - 1)).await;
    again.next(Duration::from_secs(5)).await.expect("hello");
    assert_eq!(
        again.next(Duration::from_secs(5)).await.expect("entry").id,
        Some(seq.to_string())
    );
}

#[tokio::test]
async fn revoking_a_credential_ends_its_open_streams() {
    let app = spawn_app_with(|s| s.feed_heartbeat_secs = 1).await;
    let secret = credential(&app).await;
    let mut stream = Stream::open(&app, &secret, None).await;
    stream.next(Duration::from_secs(5)).await.expect("hello");
    revoke_the_credential(&app).await;
    // At its next read (a heartbeat away at most) the stream ends; heartbeats sent before
    // that are fine.
    loop {
        match stream.next(Duration::from_secs(5)).await {
            None => break,
            Some(frame) => assert!(frame.comment, "only heartbeats until the end: {frame:?}"),
        }
    }
}

/// A service verifying on its own: the remote JWKS and the feed, as the library's README sets
/// them up, against an app on the system clock (the service checks times by it).
async fn service(
    app: &TestApp,
    secret: &str,
    when_stale: WhenStale,
) -> (Arc<RevocationFeed>, Arc<RemoteJwks>) {
    let feed = Arc::new(
        RevocationFeed::builder(app.address.clone(), secret)
            .max_staleness(Duration::from_secs(3))
            .when_stale(when_stale)
            .build()
            .expect("feed"),
    );
    let verifier = Verifier::new(
        KeySet::empty(),
        Policy::new(app.settings.issuer(), "jwtgate"),
    )
    .with_revocation(feed.view());
    let jwks = format!("{}/.well-known/jwks.json", app.address);
    let remote = Arc::new(
        RemoteJwks::connect(jwks, Arc::new(verifier))
            .await
            .expect("jwks"),
    );
    tokio::spawn(Arc::clone(&feed).run(Arc::clone(remote.verifier()), std::future::pending()));
    (feed, remote)
}

async fn system_clock_app() -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(dir.path().to_owned());
    settings.feed_heartbeat_secs = 1;
    if let Some(db) = crate::database::create().await {
        settings.database_url = Some(jwtgate::config::SecretString::new(db.url()));
        let mut app = boot(settings, Clock::system(), Some(dir)).await;
        app.keep_database(Some(db));
        return app;
    }
    boot(settings, Clock::system(), Some(dir)).await
}

/// Waits until `check` holds (the event), for at most `within`; how long it took.
async fn until(within: Duration, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < within, "not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn a_service_refuses_a_logged_out_token_within_a_second_and_refuses_all_once_the_feed_is_stale()
 {
    let app = system_clock_app().await;
    let secret = credential(&app).await;
    let (feed, remote) = service(&app, &secret, WhenStale::Refuse).await;
    let (lenient, lenient_remote) = service(&app, &secret, WhenStale::Accept).await;
    let ada = sign_in(&app, "ada@example.com").await;
    let bob = sign_in(&app, "bob@example.com").await;
    until(Duration::from_secs(5), async || {
        feed.status().fresh && lenient.status().fresh
    })
    .await;
    assert!(remote.verify(&ada.access).await.is_ok());

    assert_eq!(
        app.logout(&ada.access).await.status(),
        StatusCode::NO_CONTENT
    );
    // Each service follows a stream of its own: both must refuse, each within the second.
    let took = until(Duration::from_secs(1), async || {
        remote.verify(&ada.access).await == Err(VerifyError::Revoked)
            && lenient_remote.verify(&ada.access).await == Err(VerifyError::Revoked)
    })
    .await;
    eprintln!("both services refused the logged-out token {took:?} after the logout's answer");
    assert!(
        remote.verify(&bob.access).await.is_ok(),
        "another session is untouched"
    );
    let status = feed.status();
    assert!(
        status.connected && status.cursor > 0 && status.applied >= 1,
        "{status:?}"
    );

    // jwtgate goes away: past max_staleness (3 s) the strict service refuses every token,
    // the lenient one keeps checking against what it has.
    let _ = app.stop().await;
    until(Duration::from_secs(10), async || !feed.status().fresh).await;
    assert_eq!(
        remote.verify(&bob.access).await,
        Err(VerifyError::RevocationStale)
    );
    assert!(lenient_remote.verify(&bob.access).await.is_ok());
    assert_eq!(
        lenient_remote.verify(&ada.access).await,
        Err(VerifyError::Revoked)
    );
    assert!(!feed.status().connected);
}

/// The example service (`examples/resource-api`), in this process, on a port of its own.
async fn resource_api(app: &TestApp, secret: &str) -> (String, Arc<RevocationFeed>) {
    let config = resource_api::Config {
        issuer: app.settings.issuer(),
        audience: "jwtgate".to_owned(),
        feed_credential: secret.to_owned(),
        max_staleness: Duration::from_secs(3),
        when_stale: WhenStale::Refuse,
        cors_origins: Vec::new(),
    };
    let service = resource_api::service(&config)
        .await
        .expect("the service starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, service.router).await });
    (url, service.feed)
}

#[tokio::test]
async fn the_example_resource_api_accepts_jwtgate_tokens_and_refuses_tampered_and_revoked_ones() {
    let app = system_clock_app().await;
    let secret = credential(&app).await;
    let (api, feed) = resource_api(&app, &secret).await;
    until(Duration::from_secs(5), async || feed.status().fresh).await;
    let ada = sign_in(&app, "ada@example.com").await;
    let root = sign_in_admin(&app, "root@example.com").await;
    let client = &app.client;
    let get = async |path: &str, token: &str| {
        client
            .get(format!("{api}{path}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    };

    let added = client
        .post(format!("{api}/todos"))
        .bearer_auth(&ada.access)
        .json(&json!({"title": "buy milk"}))
        .send()
        .await
        .expect("post");
    assert_eq!(added.status(), StatusCode::CREATED);
    let listed: Value = get("/todos", &ada.access).await.json().await.expect("json");
    assert_eq!(listed, json!([{"id": 1, "title": "buy milk"}]));
    assert_eq!(
        get("/admin/stats", &root.access).await.status(),
        StatusCode::OK
    );
    let (status, code, _) = problem(get("/admin/stats", &ada.access).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );

    // A signature changed in its first character (the last one of an ES256 signature carries
    // unused bits), and a payload changed under the old signature.
    let parts: Vec<&str> = ada.access.split('.').collect();
    let flipped = if parts[2].starts_with('A') { "B" } else { "A" };
    let tampered = format!("{}.{}.{flipped}{}", parts[0], parts[1], &parts[2][1..]);
    let (status, code, _) = problem(get("/todos", &tampered).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let root_payload = root.access.split('.').nth(1).expect("payload");
    let forged = format!("{}.{root_payload}.{}", parts[0], parts[2]);
    let (status, code, _) = problem(get("/todos", &forged).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );

    // Logged out on jwtgate: refused by the service within a second, through the feed.
    assert_eq!(
        app.logout(&ada.access).await.status(),
        StatusCode::NO_CONTENT
    );
    let took = until(Duration::from_secs(1), async || {
        get("/todos", &ada.access).await.status() == StatusCode::UNAUTHORIZED
    })
    .await;
    eprintln!("the example API refused the logged-out token {took:?} after the logout's answer");
    let (_, code, _) = problem(get("/todos", &ada.access).await).await;
    assert_eq!(code, "invalid_token");
    let health: Value = client
        .get(format!("{api}/healthz"))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(health["feed"]["fresh"], json!(true), "{health}");
    assert_eq!(health["feed"]["node"], json!(app.settings.node_id()));
}

/// The README's Python service: PyJWT with its JWKS client, as written there.
const PYJWT: &str = r#"
import sys, jwt
base, token = sys.argv[1], sys.argv[2]
jwks = jwt.PyJWKClient(base + "/.well-known/jwks.json")
key = jwks.get_signing_key_from_jwt(token)
claims = jwt.decode(token, key, algorithms=["ES256"], audience="jwtgate",
                    issuer=base, options={"require": ["exp", "iat", "sub"]})
print(claims["sub"])
"#;

#[tokio::test]
async fn pyjwt_verifies_jwtgate_tokens_as_the_readme_shows_and_refuses_a_tampered_one() {
    let app = system_clock_app().await;
    let ada = sign_in(&app, "ada@example.com").await;
    let run = |token: String| {
        let base = app.settings.issuer();
        tokio::process::Command::new("python3")
            .args(["-c", PYJWT, &base, &token])
            .output()
    };
    let out = run(ada.access.clone())
        .await
        .expect("python3 (./scripts/test installs PyJWT)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ada.id);

    let parts: Vec<&str> = ada.access.split('.').collect();
    let flipped = if parts[2].starts_with('A') { "B" } else { "A" };
    let tampered = format!("{}.{}.{flipped}{}", parts[0], parts[1], &parts[2][1..]);
    let out = run(tampered).await.expect("python3");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("InvalidSignatureError"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
