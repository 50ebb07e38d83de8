//! Request ids: every answer carries one in `X-Request-Id`, a 500's body names the same one
//! (what an operator greps the log for), and one given by a trusted proxy is kept while
//! anything else is replaced. (The access log's lines are tested on the binary, in `cli`.)

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{problem, spawn_app, spawn_app_with};

fn id_of(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_a_500_names_the_same_one() {
    let app = spawn_app().await;
    let mut seen = HashSet::new();
    for (path, status) in [
        ("/healthz", StatusCode::OK),
        ("/api/me", StatusCode::UNAUTHORIZED),
        ("/nowhere", StatusCode::NOT_FOUND),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), status);
        let id = id_of(&response);
        assert_eq!(id.len(), 22, "{id}");
        assert!(seen.insert(id), "a fresh id for every request");
    }

    let signed = app.signed_in("ada@example.com").await;
    let remove = crate::helpers::fail_ending_sessions(&app).await;
    let response = app
        .logout(signed["access_token"].as_str().expect("token"))
        .await;
    let header = id_of(&response);
    let (status, code, body) = problem(response).await;
    app.store().test_sql(remove).await.expect("drop");
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
    );
    assert_eq!(body["request_id"], json!(header));
}

#[tokio::test]
async fn a_trusted_proxys_request_id_is_kept_and_anything_else_replaced() {
    let behind = spawn_app_with(|s| s.trust_proxy_headers = true).await;
    let direct = spawn_app().await;
    let ask = async |app: &crate::helpers::TestApp, given: &str| {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("x-request-id", given)
            .send()
            .await
            .expect("request");
        id_of(&response)
    };
    assert_eq!(ask(&behind, "lb-7f3a.9_x").await, "lb-7f3a.9_x");
    for forged in ["two words", "quote\"d", &"x".repeat(65), ""] {
        let id = ask(&behind, forged).await;
        assert_ne!(id, forged);
        assert_eq!(id.len(), 22);
    }
    assert_ne!(
        ask(&direct, "lb-7f3a.9_x").await,
        "lb-7f3a.9_x",
        "no proxy is trusted"
    );
}
