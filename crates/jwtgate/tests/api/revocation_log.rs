//! The revocation log on PostgreSQL: a revocation committed through one node reaches another
//! node sharing the database, whatever kind it is; concurrent revokers leave a log without
//! gaps; a node cut off from the database refuses tokens rather than trust a view it cannot
//! prove current, and comes back by itself. (On SQLite there is one node and no log: these
//! tests say so and pass.)

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::admin::{send, sign_in, sign_in_admin};
use crate::helpers::{PASSWORD, TestApp, problem, spawn_app, spawn_app_with};
use crate::keys::second_node;

fn on_postgres(app: &TestApp) -> bool {
    let yes = app.store().backend() == "postgres";
    if !yes {
        eprintln!("the revocation log is PostgreSQL's: nothing to test on SQLite");
    }
    yes
}

/// Waits until `node` has applied the log up to its head as it is now (the event, not a time).
async fn caught_up(node: &TestApp) {
    let head = node.store().revocation_head().await.expect("head");
    let mut applied = node.handle.revocations_applied();
    tokio::time::timeout(Duration::from_secs(5), applied.wait_for(|seq| *seq >= head))
        .await
        .expect("the node read the log within a few polls")
        .expect("node running");
}

async fn refused(node: &TestApp, token: &str) {
    let (status, code, _) = problem(node.get_bearer("/api/me", token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn every_kind_of_revocation_on_one_node_is_refused_by_the_other() {
    let a = spawn_app().await;
    if !on_postgres(&a) {
        return;
    }
    let b = second_node(&a).await;
    let root = sign_in_admin(&a, "root@example.com").await;

    // Logout on A, checked on B.
    let ada = sign_in(&a, "ada@example.com").await;
    assert_eq!(
        b.get_bearer("/api/me", &ada.access).await.status(),
        StatusCode::OK
    );
    assert_eq!(a.logout(&ada.access).await.status(), StatusCode::NO_CONTENT);
    caught_up(&b).await;
    refused(&b, &ada.access).await;

    // A role change on B, checked on A.
    let bob = sign_in(&b, "bob@example.com").await;
    let path = format!("/api/admin/users/{}/roles", bob.id);
    let body = Some(json!({"roles": ["editor"]}));
    assert_eq!(
        send(&b, Method::PUT, &path, &root.access, body)
            .await
            .status(),
        StatusCode::OK
    );
    caught_up(&a).await;
    refused(&a, &bob.access).await;

    // A password change on A: every other session of the user, checked on B.
    let cy = sign_in(&a, "cy@example.com").await;
    let response = a
        .client
        .post(a.url("/auth/password/change"))
        .bearer_auth(&cy.access)
        .json(
            &json!({"current_password": PASSWORD, "new_password": "another horse battery staple"}),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    caught_up(&b).await;
    refused(&b, &cy.access).await;

    // An administrator disables an account on B, checked on A.
    let di = sign_in(&a, "di@example.com").await;
    let path = format!("/api/admin/users/{}/disable", di.id);
    assert_eq!(
        send(&b, Method::POST, &path, &root.access, None)
            .await
            .status(),
        StatusCode::OK
    );
    caught_up(&a).await;
    refused(&a, &di.access).await;

    // A device revoked from A's session list, checked on B.
    let ed_phone = sign_in(&a, "ed@example.com").await;
    let ed_laptop = a.login("ed@example.com", PASSWORD).await;
    let ed_laptop: serde_json::Value = ed_laptop.json().await.expect("json");
    let laptop = ed_laptop["access_token"].as_str().expect("at");
    let sid = crate::tokens::decode_part(&ed_phone.access, 1)["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    let path = format!("/auth/sessions/{sid}");
    assert_eq!(
        send(&a, Method::DELETE, &path, laptop, None).await.status(),
        StatusCode::NO_CONTENT
    );
    caught_up(&b).await;
    refused(&b, &ed_phone.access).await;
    assert_eq!(
        b.get_bearer("/api/me", laptop).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_logout_answers_only_once_every_live_node_refuses_the_token() {
    let a = spawn_app_with(|s| s.login_successes_per_minute = 1000).await;
    if !on_postgres(&a) {
        return;
    }
    let b = second_node(&a).await;
    caught_up(&b).await;
    a.signed_in("ada@example.com").await;
    // No waiting between the logout's answer and the check on the other node: the answer
    // itself waited for B's acknowledgement.
    for round in 0..50 {
        let (revoker, checker) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let token = crate::keys::access_token(revoker, "ada@example.com").await;
        assert_eq!(
            checker.get_bearer("/api/me", &token).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            revoker.logout(&token).await.status(),
            StatusCode::NO_CONTENT
        );
        refused(checker, &token).await;
    }
}

#[tokio::test]
async fn eight_revokers_at_once_leave_a_log_without_gaps_that_a_follower_applies_whole() {
    let a = spawn_app_with(|s| s.login_successes_per_minute = 1000).await;
    if !on_postgres(&a) {
        return;
    }
    let b = second_node(&a).await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        let email = format!("user{i}@example.com");
        a.signed_in(&email).await;
        for _ in 0..5 {
            tokens.push(crate::keys::access_token(&a, &email).await);
        }
    }
    // Eight revokers, over both nodes, each ending five sessions one after the other.
    let nodes = [&a, &b];
    let mut revokers = tokio::task::JoinSet::new();
    for (i, chunk) in tokens.chunks(5).enumerate() {
        let (client, url) = (
            nodes[i % 2].client.clone(),
            nodes[i % 2].url("/auth/logout"),
        );
        let chunk = chunk.to_vec();
        revokers.spawn(async move {
            for token in chunk {
                let response = client.post(&url).bearer_auth(token).send().await;
                assert_eq!(response.expect("logout").status(), StatusCode::NO_CONTENT);
            }
        });
    }
    while let Some(done) = revokers.join_next().await {
        done.expect("revoker");
    }

    let head = a.store().revocation_head().await.expect("head");
    let log = a.store().revocations_after(0, 10_000).await.expect("log");
    assert_eq!(log.entries.len(), 40, "one entry per ended session");
    assert_eq!(
        (log.last, head),
        (40, 40),
        "seq counts 1, 2, 3… in commit order, without a gap"
    );
    for node in nodes {
        caught_up(node).await;
        for token in &tokens {
            refused(node, token).await;
        }
    }
}

#[tokio::test]
async fn a_node_cut_off_from_the_database_refuses_tokens_and_is_not_ready_until_it_is_back() {
    let app = spawn_app().await;
    if !on_postgres(&app) {
        return;
    }
    let token = app.signed_in("ada@example.com").await["access_token"]
        .as_str()
        .expect("at")
        .to_owned();
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    let database = app.database().expect("its own database");
    database.cut_off(true).await;

    // Within the lease (2 s after the last read that could have seen a revocation), the node
    // stops answering for tokens. Waited for as an event: the first 503.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let stale = loop {
        let response = app.get_bearer("/api/me", &token).await;
        if response.status() != StatusCode::OK {
            break response;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still answering 10 s after the cut"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(stale.headers()["retry-after"], "1");
    let (status, code, _) = problem(stale).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "revocation_view_stale")
    );
    let (status, code, _) = problem(app.get("/readyz").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready")
    );

    database.cut_off(false).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.get("/readyz").await.status() != StatusCode::OK {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not ready 10 s after the link came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.get_bearer("/api/me", &token).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn log_entries_leave_the_database_once_no_unexpired_token_can_match_them() {
    let app = spawn_app().await;
    if !on_postgres(&app) {
        return;
    }
    let token = app.signed_in("ada@example.com").await["access_token"]
        .as_str()
        .expect("at")
        .to_owned();
    assert_eq!(app.logout(&token).await.status(), StatusCode::NO_CONTENT);
    let horizon = app.settings.access_token_ttl_secs + app.settings.leeway_secs;
    // A minute of clock skew kept beyond the horizon: still there one second before.
    app.clock.advance(horizon + 60);
    app.handle.prune_store().await.expect("prune");
    assert_eq!(
        app.store()
            .revocations_after(0, 10)
            .await
            .expect("log")
            .entries
            .len(),
        1
    );
    app.clock.advance(1);
    app.handle.prune_store().await.expect("prune");
    assert!(
        app.store()
            .revocations_after(0, 10)
            .await
            .expect("log")
            .entries
            .is_empty()
    );
    // The clock keeps counting: the next entry is not a reused number.
    let fresh = crate::keys::access_token(&app, "ada@example.com").await;
    assert_eq!(app.logout(&fresh).await.status(), StatusCode::NO_CONTENT);
    let log = app.store().revocations_after(0, 10).await.expect("log");
    assert_eq!((log.entries.len(), log.last), (1, 2));
}
