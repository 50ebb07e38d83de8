//! The remote JWKS against a real HTTP issuer on 127.0.0.1: initial fetch, rotation picked up
//! on an unknown `kid`, cooldown, one shared in-flight fetch, last good keys kept through
//! failures, `max-age` honoured, the background task, and the axum extractor on top.
//!
//! Time is driven through the injected clock, never by sleeping: the background task is
//! followed through `RemoteJwks::fetched`, and a slow issuer is one that holds its answer
//! until the test lets it go.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jwtgate_verify::axum::Auth;
use jwtgate_verify::remote::{RemoteError, RemoteJwks};
use jwtgate_verify::{
    ACCESS_TOKEN_TYP, Algorithm, Audience, Claims, Error, Jwks, Key, KeySet, Policy, Verifier,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "api";

/// What the issuer answers next.
#[derive(Clone)]
enum Answer {
    Jwks {
        body: String,
        cache_control: Option<&'static str>,
        age: Option<&'static str>,
    },
    Status(StatusCode),
    Body(String),
}

struct Issuer {
    hits: AtomicUsize,
    answer: Mutex<Answer>,
    /// While set, a request is held until `release` is notified (after `arrived` fires).
    hold: std::sync::atomic::AtomicBool,
    arrived: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

impl Issuer {
    fn set(&self, answer: Answer) {
        *self.answer.lock().expect("lock") = answer;
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn serve_jwks(State(issuer): State<Arc<Issuer>>) -> Response {
    issuer.hits.fetch_add(1, Ordering::SeqCst);
    if issuer.hold.load(Ordering::SeqCst) {
        let released = issuer.release.notified();
        issuer.arrived.notify_one();
        released.await;
    }
    let answer = issuer.answer.lock().expect("lock").clone();
    match answer {
        Answer::Jwks {
            body,
            cache_control,
            age,
        } => {
            let mut response = body.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jwk-set+json"),
            );
            if let Some(value) = cache_control {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
            }
            if let Some(value) = age {
                headers.insert(header::AGE, HeaderValue::from_static(value));
            }
            response
        }
        Answer::Status(status) => status.into_response(),
        Answer::Body(body) => body.into_response(),
    }
}

/// A real HTTP server on 127.0.0.1:0 serving `/jwks`.
struct Server {
    url: String,
    issuer: Arc<Issuer>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Server {
    async fn start(answer: Answer) -> Server {
        let issuer = Arc::new(Issuer {
            hits: AtomicUsize::new(0),
            answer: Mutex::new(answer),
            hold: std::sync::atomic::AtomicBool::new(false),
            arrived: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
        });
        let router = Router::new()
            .route("/jwks", get(serve_jwks))
            .with_state(Arc::clone(&issuer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        Server {
            url,
            issuer,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops accepting and closes idle keep-alive connections, so the client cannot reuse one.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("server stops")
                .expect("server task");
        }
    }
}

/// Keys the issuer may sign with; each is its own signing set so any can sign.
struct Keys {
    signers: Vec<KeySet>,
    public: Vec<jwtgate_verify::Jwk>,
}

impl Keys {
    fn new(count: usize) -> Keys {
        let mut signers = Vec::new();
        let mut public = Vec::new();
        for _ in 0..count {
            let key = Key::generate(Algorithm::EdDSA).expect("key");
            public.push(key.public_jwk().expect("public"));
            signers.push(KeySet::new(key).expect("set"));
        }
        Keys { signers, public }
    }

    /// The JWKS publishing keys `which`.
    fn jwks(&self, which: &[usize]) -> String {
        let jwks = Jwks {
            keys: which.iter().map(|&i| self.public[i].clone()).collect(),
        };
        serde_json::to_string(&jwks).expect("json")
    }

    fn token(&self, which: usize) -> String {
        let now = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("after 1970")
                .as_secs(),
        )
        .expect("fits");
        let claims = Claims {
            iss: ISS.into(),
            sub: format!("user-{which}"),
            aud: Audience::One(AUD.into()),
            exp: now + 600,
            iat: now,
            nbf: None,
            jti: format!("jti-{which}"),
            sid: None,
            roles: Vec::new(),
            plan: None,
            email: None,
            email_verified: None,
            client_id: None,
            extra: serde_json::Map::new(),
        };
        self.signers[which]
            .sign(ACCESS_TOKEN_TYP, &claims)
            .expect("signed")
    }
}

fn published(body: String) -> Answer {
    Answer::Jwks {
        body,
        cache_control: None,
        age: None,
    }
}

/// A monotonic clock the test moves by hand.
#[derive(Clone)]
struct FakeClock {
    base: Instant,
    offset_ms: Arc<AtomicU64>,
}

impl FakeClock {
    fn new() -> FakeClock {
        FakeClock {
            base: Instant::now(),
            offset_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn now(&self) -> Instant {
        self.base + Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }

    fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).expect("fits");
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

fn verifier() -> Arc<Verifier> {
    Arc::new(Verifier::new(KeySet::empty(), Policy::new(ISS, AUD)).with_cache(64))
}

async fn connect(server: &Server, clock: &FakeClock) -> RemoteJwks {
    let clock = clock.clone();
    RemoteJwks::builder(&server.url, verifier())
        .clock(move || clock.now())
        .connect()
        .await
        .expect("initial fetch")
}

#[tokio::test]
async fn initial_fetch_loads_the_issuers_keys() {
    let keys = Keys::new(1);
    let server = Server::start(published(keys.jwks(&[0]))).await;
    let clock = FakeClock::new();

    let remote = connect(&server, &clock).await;

    assert_eq!(server.issuer.hits(), 1);
    let claims = remote.verify(&keys.token(0)).await.expect("verifies");
    assert_eq!(claims.sub, "user-0");
    assert_eq!(server.issuer.hits(), 1, "a known kid fetches nothing");
    assert_eq!(remote.verifier().keys().len(), 1);
}

#[tokio::test]
async fn initial_fetch_failure_is_an_error() {
    let server = Server::start(Answer::Status(StatusCode::SERVICE_UNAVAILABLE)).await;
    let err = RemoteJwks::connect(&server.url, verifier())
        .await
        .expect_err("issuer down");
    assert!(matches!(err, RemoteError::Status(503)), "{err:?}");
}

#[tokio::test]
async fn rotation_is_picked_up_on_an_unknown_kid() {
    let keys = Keys::new(2);
    let server = Server::start(published(keys.jwks(&[0]))).await;
    let clock = FakeClock::new();
    let remote = connect(&server, &clock).await;

    server.issuer.set(published(keys.jwks(&[0, 1])));
    let claims = remote.verify(&keys.token(1)).await.expect("new key");

    assert_eq!(claims.sub, "user-1");
    assert_eq!(server.issuer.hits(), 2);
    assert!(remote.verify(&keys.token(0)).await.is_ok(), "old key kept");
}

#[tokio::test]
async fn the_sync_verify_of_a_remote_backed_verifier_starts_the_refetch_of_a_new_kid() {
    let keys = Keys::new(2);
    let server = Server::start(published(keys.jwks(&[0]))).await;
    let clock = FakeClock::new();
    let remote = connect(&server, &clock).await;
    server.issuer.set(published(keys.jwks(&[0, 1])));

    // The synchronous entry point cannot wait for a fetch: this call answers unknown_kid, and
    // the fetch it started (in the background, the same single flight) brings the key.
    let seen = remote.fetches();
    assert_eq!(
        remote.verifier().verify(&keys.token(1)),
        Err(Error::UnknownKey)
    );
    tokio::time::timeout(Duration::from_secs(5), remote.fetched(seen))
        .await
        .expect("a fetch started by the sync call");
    assert_eq!(server.issuer.hits(), 2);
    let claims = remote
        .verifier()
        .verify(&keys.token(1))
        .expect("the new key");
    assert_eq!(claims.sub, "user-1");
}

#[tokio::test]
async fn unknown_kids_within_the_cooldown_cause_one_fetch() {
    let keys = Keys::new(3);
    let server = Server::start(published(keys.jwks(&[0]))).await;
    let clock = FakeClock::new();
    let remote = connect(&server, &clock).await;

    // Key 2 is never published: a forged or foreign kid.
    assert_eq!(remote.verify(&keys.token(2)).await, Err(Error::UnknownKey));
    assert_eq!(server.issuer.hits(), 2);
    assert_eq!(remote.verify(&keys.token(2)).await, Err(Error::UnknownKey));
    clock.advance(Duration::from_secs(29));
    server.issuer.set(published(keys.jwks(&[0, 1])));
    assert_eq!(remote.verify(&keys.token(1)).await, Err(Error::UnknownKey));
    assert_eq!(server.issuer.hits(), 2, "no fetch within the cooldown");

    clock.advance(Duration::from_secs(2));
    assert!(remote.verify(&keys.token(1)).await.is_ok());
    assert_eq!(
        server.issuer.hits(),
        3,
        "one fetch once the cooldown is over"
    );
}

#[tokio::test]
async fn cooldown_is_configurable() {
    let keys = Keys::new(2);
    let server = Server::start(published(keys.jwks(&[0]))).await;
    let clock = FakeClock::new();
    let fake = clock.clone();
    let remote = RemoteJwks::builder(&server.url, verifier())
        .cooldown(Duration::from_secs(5))
        .clock(move || fake.now())
        .connect()
        .await
        .expect("connect");

    assert_eq!(remote.verify(&keys.token(1)).await, Err(Error::UnknownKey));
    clock.advance(Duration::from_secs(6));
    assert_eq!(remote.verify(&keys.token(1)).await, Err(Error::UnknownKey));
    assert_eq!(server.issuer.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_unknown_kid_verifications_share_one_fetch() {
    let keys = Keys::new(2);
    let server = Server::start(published(keys.jwks(&[0]))).await;
    let clock = FakeClock::new();
    let remote = Arc::new(connect(&server, &clock).await);

    server.issuer.set(published(keys.jwks(&[0, 1])));
    // The issuer holds its answer until every caller has been started: they arrive while the
    // one fetch is in flight (or, started late, find its keys already there).
    server.issuer.hold.store(true, Ordering::SeqCst);
    let arrived = server.issuer.arrived.notified();
    let token = Arc::new(keys.token(1));
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (remote, token) = (Arc::clone(&remote), Arc::clone(&token));
        callers.spawn(async move { remote.verify(&token).await });
    }
    arrived.await;
    server.issuer.release.notify_one();
    let verdicts = callers.join_all().await;

    assert_eq!(verdicts.len(), 16);
    assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");
    assert_eq!(
        server.issuer.hits(),
        2,
        "one initial fetch, one shared refetch"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_going_away_does_not_cancel_the_shared_fetch() {
    let keys = Keys::new(2);
    let server = Server::start(published(keys.jwks(&[0]))).await;
    let clock = FakeClock::new();
    let remote = Arc::new(connect(&server, &clock).await);

    server.issuer.set(published(keys.jwks(&[0, 1])));
    server.issuer.hold.store(true, Ordering::SeqCst);
    let seen = remote.fetches();
    let arrived = server.issuer.arrived.notified();
    let caller = {
        let (remote, token) = (Arc::clone(&remote), keys.token(1));
        tokio::spawn(async move { remote.verify(&token).await })
    };
    // The caller's fetch reached the issuer; the caller goes away while it is held there.
    arrived.await;
    caller.abort();
    server.issuer.release.notify_one();
    tokio::time::timeout(Duration::from_secs(5), remote.fetched(seen))
        .await
        .expect("the abandoned fetch finishes");

    assert_eq!(server.issuer.hits(), 2);
    // Within the cooldown, so only the abandoned fetch can have brought key 1 in.
    assert!(remote.verifier().verify(&keys.token(1)).is_ok());
}

/// Which error a failed refresh must report.
type Expected = fn(&RemoteError) -> bool;

#[tokio::test]
async fn issuer_failures_keep_the_last_good_keys() {
    let keys = Keys::new(2);
    let server = Server::start(published(keys.jwks(&[0]))).await;
    let clock = FakeClock::new();
    let remote = connect(&server, &clock).await;
    let old = keys.token(0);

    let failures: [(Answer, Expected); 5] = [
        (Answer::Status(StatusCode::INTERNAL_SERVER_ERROR), |e| {
            matches!(e, RemoteError::Status(500))
        }),
        (Answer::Body("<html>maintenance</html>".into()), |e| {
            matches!(e, RemoteError::Json(_))
        }),
        (
            Answer::Body(r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "!!"}]}"#.into()),
            |e| matches!(e, RemoteError::Keys(_)),
        ),
        (Answer::Body(r#"{"keys": []}"#.into()), |e| {
            matches!(e, RemoteError::NoKeys)
        }),
        (
            Answer::Body(" ".repeat(300 * 1024) + r#"{"keys": []}"#),
            |e| matches!(e, RemoteError::TooLarge { limit: 262_144 }),
        ),
    ];
    for (answer, expected) in failures {
        server.issuer.set(answer);
        let err = remote.refresh().await.expect_err("refused");
        assert!(expected(&err), "unexpected {err:?}");
        assert!(remote.verify(&old).await.is_ok(), "after {err:?}");
        assert_eq!(
            remote.next_refresh(),
            clock.now() + Duration::from_secs(30),
            "retried after the lower bound"
        );
    }

    // An unknown kid while the issuer is broken: refused, and the old keys still work.
    assert_eq!(remote.verify(&keys.token(1)).await, Err(Error::UnknownKey));
    assert!(remote.verify(&old).await.is_ok());
}

#[tokio::test]
async fn stopped_issuer_keeps_the_last_good_keys() {
    let keys = Keys::new(2);
    let mut server = Server::start(published(keys.jwks(&[0]))).await;
    let clock = FakeClock::new();
    let remote = connect(&server, &clock).await;

    server.stop().await;

    let err = remote.refresh().await.expect_err("issuer down");
    assert!(matches!(err, RemoteError::Http(_)), "{err:?}");
    assert!(remote.verify(&keys.token(0)).await.is_ok());
    assert_eq!(remote.verify(&keys.token(1)).await, Err(Error::UnknownKey));
}

#[tokio::test]
async fn max_age_is_honoured_within_bounds() {
    let keys = Keys::new(1);
    let server = Server::start(published(keys.jwks(&[0]))).await;
    let clock = FakeClock::new();
    let remote = connect(&server, &clock).await;
    assert_eq!(
        remote.next_refresh(),
        clock.now() + Duration::from_secs(300),
        "5 min without max-age"
    );

    let cases = [
        (Some("public, max-age=600"), None, 600),
        (Some("max-age=600"), Some("100"), 500),
        (Some("max-age=5"), None, 30),
        (Some("no-cache"), None, 30),
        (Some("max-age=31536000"), None, 24 * 3600),
    ];
    for (cache_control, age, expected) in cases {
        server.issuer.set(Answer::Jwks {
            body: keys.jwks(&[0]),
            cache_control,
            age,
        });
        clock.advance(Duration::from_secs(1));
        remote.refresh().await.expect("refresh");
        assert_eq!(
            remote.next_refresh(),
            clock.now() + Duration::from_secs(expected),
            "{cache_control:?} {age:?}"
        );
    }
}

#[tokio::test]
async fn background_task_refreshes_until_shutdown() {
    let keys = Keys::new(2);
    let server = Server::start(Answer::Jwks {
        body: keys.jwks(&[0]),
        cache_control: Some("max-age=0"),
        age: None,
    })
    .await;
    let remote = Arc::new(
        RemoteJwks::builder(&server.url, verifier())
            .max_age_bounds(Duration::from_millis(20), Duration::from_secs(1))
            .connect()
            .await
            .expect("connect"),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(Arc::clone(&remote).run(async move {
        let _ = stopped.await;
    }));

    server.issuer.set(Answer::Jwks {
        body: keys.jwks(&[0, 1]),
        cache_control: Some("max-age=0"),
        age: None,
    });
    // Picked up by the background refresh alone, not by an unknown-kid fetch: wait for the
    // background fetches (each one an event), never for a time.
    let picked_up = async {
        while remote.verifier().verify(&keys.token(1)).is_err() {
            remote.fetched(remote.fetches()).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), picked_up)
        .await
        .expect("the background task fetches the new key");
    assert!(server.issuer.hits() >= 2, "hits {}", server.issuer.hits());

    stop.send(()).expect("task alive");
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("run returns on shutdown")
        .expect("no panic");
    // The task gave its handle back: nothing of it is left to fetch again.
    assert_eq!(Arc::strong_count(&remote), 1);
}

#[tokio::test]
async fn axum_extractor_refetches_through_the_remote() {
    let keys = Keys::new(3);
    let server = Server::start(published(keys.jwks(&[0]))).await;
    let clock = FakeClock::new();
    let remote = Arc::new(connect(&server, &clock).await);
    let app = Router::new()
        .route(
            "/me",
            get(|user: jwtgate_verify::axum::Authenticated| async move { user.claims.sub.clone() }),
        )
        .with_state(Arc::new(Auth::remote(Arc::clone(&remote))));
    let call = |token: String| {
        let app = app.clone();
        async move {
            app.oneshot(
                Request::get("/me")
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible")
        }
    };

    server.issuer.set(published(keys.jwks(&[0, 1])));
    let rotated = call(keys.token(1)).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    assert_eq!(server.issuer.hits(), 2);

    let unknown = call(keys.token(2)).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        unknown
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .expect("challenge"),
        r#"Bearer realm="jwtgate", error="invalid_token""#
    );
    assert_eq!(
        unknown.extensions().get::<Error>(),
        Some(&Error::UnknownKey)
    );
    assert_eq!(server.issuer.hits(), 2, "within the cooldown");
}

/// The crate README's "resource server in a dozen lines", run against the local issuer.
#[tokio::test]
async fn readme_resource_server_in_a_dozen_lines() {
    let keys = Keys::new(1);
    let server = Server::start(published(keys.jwks(&[0]))).await;
    let jwks = server.url.as_str();

    // --- as in the README ---
    let verifier =
        Verifier::new(KeySet::empty(), Policy::issued_by(ISS).for_audience(AUD)).with_cache(10_000);
    let remote = Arc::new(
        RemoteJwks::connect(jwks, Arc::new(verifier))
            .await
            .expect("jwks"),
    );
    tokio::spawn(Arc::clone(&remote).run(std::future::pending()));

    let app = Router::new()
        .route(
            "/orders",
            get(|user: jwtgate_verify::axum::Authenticated| async move {
                format!("orders of {}", user.claims.sub)
            }),
        )
        .with_state(Arc::new(Auth::remote(remote)));
    // --- end ---

    let response = app
        .oneshot(
            Request::get("/orders")
                .header(header::AUTHORIZATION, format!("Bearer {}", keys.token(0)))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn rsa_keys_published_without_alg_need_the_builder_to_say_what_they_are_for() {
    // As node jose, PyJWT and Microsoft publish them.
    let key = Key::generate(Algorithm::RS256).expect("key");
    let mut jwk = key.public_jwk().expect("public");
    jwk.alg = None;
    let body = serde_json::to_string(&Jwks { keys: vec![jwk] }).expect("json");
    let signer = Keys {
        signers: vec![KeySet::new(key).expect("set")],
        public: Vec::new(),
    };
    let server = Server::start(published(body)).await;

    let skipped = RemoteJwks::connect(&server.url, verifier()).await;
    assert!(matches!(skipped, Err(RemoteError::NoKeys)), "{skipped:?}");

    let remote = RemoteJwks::builder(&server.url, verifier())
        .rsa_keys_without_alg_as(Algorithm::RS256)
        .connect()
        .await
        .expect("assumed RS256");
    let claims = remote.verify(&signer.token(0)).await.expect("verified");
    assert_eq!(claims.sub, "user-0");
}

#[test]
fn only_an_rsa_algorithm_can_be_assumed_for_rsa_keys_without_alg() {
    let build = |alg| {
        RemoteJwks::builder("https://issuer.example/jwks", verifier())
            .rsa_keys_without_alg_as(alg)
            .build()
    };
    assert!(build(Algorithm::PS256).is_ok());
    for alg in [Algorithm::ES256, Algorithm::HS256, Algorithm::EdDSA] {
        assert!(
            matches!(
                build(alg),
                Err(RemoteError::Keys(jwtgate_verify::KeyError::Unsupported(_)))
            ),
            "{alg}"
        );
    }
}
