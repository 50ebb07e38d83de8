//! Metrics (`metrics_listen`): off by default, never on the public router, served as Prometheus
//! text on a listener of their own, labelled by route template (never a path), and moved by
//! exactly what happened: sign-ins, refreshes, reuse, revocations, refusals, hashing.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};

async fn app_with_metrics(customise: impl FnOnce(&mut jwtgate::Settings)) -> TestApp {
    spawn_app_with(|s| {
        s.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
        customise(s);
    })
    .await
}

/// A GET of `path` on `app`'s metrics listener.
async fn get_metrics(app: &TestApp, path: &str) -> reqwest::Result<reqwest::Response> {
    let addr = app.settings.metrics_listen.expect("metrics are on");
    app.client.get(format!("http://{addr}{path}")).send().await
}

/// The text at `/metrics` of `app`'s metrics listener, checking its content type.
async fn scrape(app: &TestApp) -> String {
    let response = get_metrics(app, "/metrics").await.expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    response.text().await.expect("text")
}

/// The value of one series (name and labels exactly as written), 0 when it is not there yet.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

fn moved(before: &str, after: &str, series: &str) -> f64 {
    value(after, series) - value(before, series)
}

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().expect(key).to_owned()
}

#[tokio::test]
async fn metrics_are_off_by_default_with_no_listener_and_no_public_route() {
    let app = spawn_app().await;
    assert_eq!(app.settings.metrics_listen, None);
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_public_router_has_no_metrics_even_when_they_are_on() {
    let app = app_with_metrics(|_| {}).await;
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    let addr = app.settings.metrics_listen.expect("on");
    assert_ne!(addr.port(), app.settings.listen.port());
    // The metrics listener serves nothing but /metrics.
    let other = get_metrics(&app, "/api/me").await.expect("request");
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sign_ins_refreshes_reuse_revocations_and_refusals_move_their_counters_exactly() {
    let limits = "free=2".parse().expect("rate limits");
    let app = app_with_metrics(|s| s.rate_limits = limits).await;
    let before = scrape(&app).await;

    // Sign-ins: one good, one with a wrong password.
    let login = app.signed_in("ada@example.com").await;
    let (status, _) = (
        app.login("ada@example.com", "wrong password!")
            .await
            .status(),
        (),
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Refreshes: a rotation, the successor used after the grace, then the spent token replayed.
    let rotated = app.refresh(&s(&login, "refresh_token")).await;
    let next: Value = rotated.json().await.expect("json");
    app.clock.advance(11);
    assert_eq!(
        app.refresh(&s(&next, "refresh_token")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.refresh(&s(&login, "refresh_token")).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A second session: its token verified three times (the plan allows two), then a logout.
    let response = app.login("ada@example.com", PASSWORD).await;
    let second: Value = response.json().await.expect("json");
    let access = s(&second, "access_token");
    for expected in [
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        assert_eq!(app.get_bearer("/api/me", &access).await.status(), expected);
    }
    assert_eq!(app.logout(&access).await.status(), StatusCode::NO_CONTENT);

    let after = scrape(&app).await;
    let counts = |series: &str| moved(&before, &after, series);
    assert_eq!(counts("jwtgate_sign_ins_total{outcome=\"success\"}"), 2.0);
    assert_eq!(
        counts("jwtgate_sign_ins_total{outcome=\"invalid_credentials\"}"),
        1.0
    );
    assert_eq!(counts("jwtgate_refreshes_total{outcome=\"success\"}"), 2.0);
    assert_eq!(counts("jwtgate_refreshes_total{outcome=\"reused\"}"), 1.0);
    assert_eq!(
        counts("jwtgate_refresh_reuse_detections_total{outcome=\"session_revoked\"}"),
        1.0
    );
    // The reused session and the logged-out one.
    assert_eq!(counts("jwtgate_revocations_total{kind=\"session\"}"), 2.0);
    assert_eq!(counts("jwtgate_refusals_total{code=\"rate_limited\"}"), 1.0);
    // Hashes: the registration, and three sign-ins.
    assert_eq!(
        counts("jwtgate_password_hash_queue_wait_seconds_count"),
        4.0
    );
    assert_eq!(value(&after, "jwtgate_password_hash_queue_depth"), 0.0);

    // Requests, by route template and status.
    let login_route =
        "jwtgate_http_request_duration_seconds_count{method=\"POST\",route=\"/auth/login\"";
    assert_eq!(counts(&format!("{login_route},status=\"200\"}}")), 2.0);
    assert_eq!(counts(&format!("{login_route},status=\"401\"}}")), 1.0);
    let me = "jwtgate_http_request_duration_seconds_count{method=\"GET\",route=\"/api/me\"";
    assert_eq!(counts(&format!("{me},status=\"200\"}}")), 2.0);
    assert_eq!(counts(&format!("{me},status=\"429\"}}")), 1.0);

    // The verified-token cache answered some of the verifications of the reused token.
    let (hits, misses) = (
        counts("jwtgate_verify_cache_lookups_total{result=\"hit\"}"),
        counts("jwtgate_verify_cache_lookups_total{result=\"miss\"}"),
    );
    assert!(hits >= 1.0 && misses >= 1.0, "hits {hits}, misses {misses}");

    // Pool readings, taken at the scrape.
    assert_eq!(
        value(&after, "jwtgate_db_pool_connections{state=\"max\"}"),
        f64::from(app.settings.db_max_connections)
    );
    // On PostgreSQL: how current the revocation view is, once the follower has applied both
    // revocations to the log (it reads it on its own thread).
    if app.store().backend() == "postgres" {
        let mut applied = app.handle.revocations_applied();
        let seq = *applied.wait_for(|seq| *seq >= 2).await.expect("follower");
        let text = scrape(&app).await;
        assert_eq!(value(&text, "jwtgate_revocation_view_fresh"), 1.0);
        assert!(value(&text, "jwtgate_revocation_log_applied_seq") >= seq as f64);
        assert!(value(&text, "jwtgate_revocation_sync_lag_seconds") >= 0.0);
        assert_eq!(value(&text, "jwtgate_cluster_live_nodes"), 1.0);
    }
}

#[tokio::test]
async fn requests_are_labelled_by_route_template_never_by_path() {
    let app = app_with_metrics(|_| {}).await;
    let login = app.signed_in("ada@example.com").await;
    let access = s(&login, "access_token");
    let todo = "0f3c2a9e-5b1d-4c8e-9a7f-6d2e1b3c4a5f";
    let response = app.get_bearer(&format!("/api/todos/{todo}"), &access).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let unknown = app.get("/no/such/place-7b1e?token=secret-in-query").await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let text = scrape(&app).await;
    assert!(
        text.contains("route=\"/api/todos/{id}\",status=\"404\""),
        "{text}"
    );
    assert!(
        text.contains("route=\"(no route)\",status=\"404\""),
        "{text}"
    );
    for leaked in [
        todo,
        "place-7b1e",
        "secret-in-query",
        "ada@example.com",
        &access,
    ] {
        assert!(!text.contains(leaked), "{leaked} in the metrics");
    }
}

#[tokio::test]
async fn two_apps_in_one_process_count_apart_and_stop_their_metrics_with_them() {
    let (a, b) = (
        app_with_metrics(|_| {}).await,
        app_with_metrics(|_| {}).await,
    );
    a.signed_in("ada@example.com").await;
    let (text_a, text_b) = (scrape(&a).await, scrape(&b).await);
    assert_eq!(
        value(&text_a, "jwtgate_sign_ins_total{outcome=\"success\"}"),
        1.0
    );
    assert_eq!(
        value(&text_b, "jwtgate_sign_ins_total{outcome=\"success\"}"),
        0.0
    );

    let (addr, client) = (a.settings.metrics_listen.expect("on"), a.client.clone());
    a.stop().await;
    let after_stop = client.get(format!("http://{addr}/metrics")).send().await;
    assert!(
        after_stop.is_err(),
        "the metrics listener outlived the shutdown"
    );
}
