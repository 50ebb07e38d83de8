//! The test harness: boots the real application in-process on a fresh temp data dir and a fresh
//! database (a SQLite file, or PostgreSQL: see `database`), port 0, manual clock, and talks HTTP
//! to it with reqwest. Cookies are handled by hand so tests can assert their attributes.

use std::collections::HashMap;
use std::path::PathBuf;

use jwtgate::config::SecretString;
use jwtgate::startup::ShutdownHandle;
use jwtgate::{Application, Clock, Settings};

use crate::database::{self, TestDatabase};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

pub const START: i64 = 1_800_000_000;
pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clock: Clock,
    /// What no HTTP route does: waiting for background work (mail delivery) instead of
    /// polling, the sweeper, adding an operator's account, the store.
    pub handle: jwtgate::startup::Handle,
    pub settings: Settings,
    pub data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    /// The app's own PostgreSQL database, when the run uses PostgreSQL (dropped with it).
    database: Option<TestDatabase>,
    shutdown: ShutdownHandle,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Test settings: fresh data dir, port 0, cheap Argon2 through the explicit test opt-in.
pub fn test_settings(data_dir: PathBuf) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir,
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        allow_weak_password_hashing: true,
        hash_workers: 2,
        // Every test client is 127.0.0.1: refusals are answered at once unless a test is about
        // the tarpit (lockout.rs), so a test that is refused often is not slowed by the others.
        refusal_delay_max_ms: 0,
        ..Settings::default()
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// An app on a fresh database: SQLite in its data dir, or (when the run uses PostgreSQL, see
/// [`database`](crate::database)) a PostgreSQL database of its own.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(dir.path().to_owned());
    let database = database::create().await;
    if let Some(db) = &database {
        settings.database_url = Some(SecretString::new(db.url()));
    }
    customise(&mut settings);
    let mut app = boot(settings, Clock::manual(START), Some(dir)).await;
    app.database = database;
    app
}

pub async fn boot(settings: Settings, clock: Clock, dir: Option<tempfile::TempDir>) -> TestApp {
    settings.validate().expect("valid test settings");
    let app = Application::build_with_clock(settings.clone(), clock.clone())
        .await
        .expect("app builds");
    let scheme = if settings.tls() { "https" } else { "http" };
    let address = format!("{scheme}://127.0.0.1:{}", app.port());
    let shutdown = app.shutdown_handle();
    // What the app runs with: the port it bound, and the issuer that follows it. A restart
    // binds the same port again, so tokens keep their issuer.
    let settings = app.settings().clone();
    let handle = app.handle();
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        clock,
        handle,
        data_dir: settings.data_dir.clone(),
        settings,
        _dir: dir,
        database: None,
        shutdown,
        server,
    }
}

impl TestApp {
    /// The store the app runs on, for the few white-box checks (through its methods, or
    /// `test_sql` to reach what no request can).
    pub fn store(&self) -> &jwtgate::store::Store {
        self.handle.store()
    }

    /// Stops this app gracefully (drains, closes the pool) and boots a new one on the same data
    /// dir and clock: what a process restart looks like.
    pub async fn restart(self) -> TestApp {
        let TestApp {
            clock,
            settings,
            _dir,
            database,
            shutdown,
            server,
            ..
        } = self;
        shutdown.shutdown();
        server.await.expect("join").expect("clean stop");
        let mut app = boot(settings, clock, _dir).await;
        app.database = database;
        app
    }

    /// Stops this app gracefully; what a restart with other settings boots on again.
    pub async fn stop(self) -> (Option<tempfile::TempDir>, Option<TestDatabase>) {
        self.shutdown.shutdown();
        self.server.await.expect("join").expect("clean stop");
        (self._dir, self.database)
    }

    /// The app's own PostgreSQL database, when the run uses PostgreSQL.
    pub fn database(&self) -> Option<&TestDatabase> {
        self.database.as_ref()
    }

    /// Makes this app own (and drop) a database another app made.
    pub fn keep_database(&mut self, database: Option<TestDatabase>) {
        self.database = database;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn register(&self, email: &str) -> Response {
        self.post_json(
            "/auth/register",
            &json!({"email": email, "password": PASSWORD}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json(
            "/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Registers and logs in with the body transport; returns the token response.
    pub async fn signed_in(&self, email: &str) -> Value {
        assert_eq!(self.register(email).await.status(), StatusCode::CREATED);
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/auth/refresh", &json!({"refresh_token": refresh_token}))
            .await
    }

    pub async fn logout(&self, access_token: &str) -> Response {
        self.client
            .post(self.url("/auth/logout"))
            .bearer_auth(access_token)
            .send()
            .await
            .expect("request")
    }
}

/// Status and problem `code` of an error response (asserting it is problem+json).
/// Fault injection: from now on, ending a session fails in the database (as a crash at that
/// step would). Returns the SQL that heals it.
pub async fn fail_ending_sessions(app: &TestApp) -> &'static str {
    let (inject, remove) = if app.store().backend() == "postgres" {
        (
            "CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$; \
             CREATE TRIGGER injected_fault BEFORE UPDATE OF ended_at ON sessions \
             FOR EACH ROW EXECUTE FUNCTION injected_fault()",
            "DROP TRIGGER injected_fault ON sessions",
        )
    } else {
        (
            "CREATE TRIGGER injected_fault BEFORE UPDATE OF ended_at ON sessions \
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            "DROP TRIGGER injected_fault",
        )
    };
    app.store().test_sql(inject).await.expect("trigger");
    remove
}

pub async fn problem(response: Response) -> (StatusCode, String, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "status {status}");
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status.as_u16());
    let code = body["code"].as_str().expect("code").to_owned();
    (status, code, body)
}

/// Set-Cookie headers by cookie name -> full header value.
pub fn set_cookies(response: &Response) -> HashMap<String, String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let name = v.split('=').next()?.to_owned();
            Some((name, v.to_owned()))
        })
        .collect()
}

/// The value of a Set-Cookie header.
pub fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_owned())
        .expect("cookie value")
}

/// A number no other call in this test binary gets (distinct names within one test).
pub fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
