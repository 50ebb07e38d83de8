//! The client address behind a reverse proxy: only hops added by trusted proxies are believed.
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app_with};
use crate::outbox::s;

/// The address the server records for a login that carried `forwarded` as X-Forwarded-For.
async fn recorded_ip(app: &crate::helpers::TestApp, forwarded: &str) -> String {
    let response = app
        .client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", forwarded)
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::OK);
    let token = s(&response.json().await.expect("json"), "access_token");
    let sessions: serde_json::Value = app
        .get_bearer("/auth/sessions", &token)
        .await
        .json()
        .await
        .expect("json");
    let current = sessions["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] == true)
        .expect("current session")
        .clone();
    s(&current, "ip")
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_first_untrusted_hop_is_the_client() {
    let app = spawn_app_with(|s| s.trust_proxy_headers = true).await;
    app.register("ada@example.com").await;
    // The test client is on 127.0.0.1: a trusted proxy by default.
    assert_eq!(recorded_ip(&app, "203.0.113.7").await, "203.0.113.7");
    // A client-chosen entry to the left of the real one changes nothing.
    assert_eq!(
        recorded_ip(&app, "10.9.9.9, 203.0.113.7").await,
        "203.0.113.7"
    );
    // A second trusted proxy's hop is skipped.
    assert_eq!(
        recorded_ip(&app, "203.0.113.8, 127.0.0.5").await,
        "203.0.113.8"
    );
    // Two headers read as one list, in order.
    let response = app
        .client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", "10.9.9.9")
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_malformed_forwarded_entry_means_the_proxys_own_address() {
    let app = spawn_app_with(|s| s.trust_proxy_headers = true).await;
    app.register("ada@example.com").await;
    for spoof in [
        "198.51.100.1, unknown",
        "198.51.100.1, 203.0.113.7:443",
        "198.51.100.1, [2001:db8::1]:443",
        "198.51.100.1, ",
        "198.51.100.1, not-an-address",
    ] {
        assert_eq!(recorded_ip(&app, spoof).await, "127.0.0.1", "{spoof}");
    }
}

#[tokio::test]
async fn a_peer_that_is_not_a_trusted_proxy_cannot_forward_anything() {
    let app = spawn_app_with(|s| {
        s.trust_proxy_headers = true;
        s.trusted_proxies = vec!["10.0.0.0/8".parse().expect("cidr")];
    })
    .await;
    app.register("ada@example.com").await;
    assert_eq!(recorded_ip(&app, "203.0.113.7").await, "127.0.0.1");
}
