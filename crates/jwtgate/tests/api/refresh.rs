//! Refresh rotation: successors, grace-window convergence, reuse detection, session lifetimes.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{problem, spawn_app};

fn s(v: &Value, key: &str) -> String {
    v[key].as_str().expect(key).to_owned()
}

#[tokio::test]
async fn refresh_rotates_the_token_and_issues_a_new_pair() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    app.clock.advance(60);
    let response = app.refresh(&s(&login, "refresh_token")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let next: Value = response.json().await.expect("json");
    assert_eq!(next["token_type"], "Bearer");
    assert_ne!(next["refresh_token"], login["refresh_token"]);
    assert_ne!(next["access_token"], login["access_token"]);
    assert_eq!(
        app.get_bearer("/api/me", &s(&next, "access_token"))
            .await
            .status(),
        StatusCode::OK
    );
    // The successor works in turn.
    app.clock.advance(60);
    assert_eq!(
        app.refresh(&s(&next, "refresh_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_spent_token_inside_the_grace_window_gets_the_same_successor() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let first: Value = app
        .refresh(&s(&login, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    app.clock.advance(5);
    let second_response = app.refresh(&s(&login, "refresh_token")).await;
    assert_eq!(second_response.status(), StatusCode::OK);
    let second: Value = second_response.json().await.expect("json");
    assert_eq!(first["refresh_token"], second["refresh_token"]);
    // The session is intact: the common successor still rotates.
    assert_eq!(
        app.refresh(&s(&first, "refresh_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn concurrent_refreshes_of_one_session_converge() {
    let app = std::sync::Arc::new(spawn_app().await);
    let login = app.signed_in("ada@example.com").await;
    let token = s(&login, "refresh_token");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (app, token) = (app.clone(), token.clone());
        tasks.spawn(async move {
            let response = app.refresh(&token).await;
            let status = response.status();
            let body: Value = response.json().await.expect("json");
            (status, body["refresh_token"].clone())
        });
    }
    let results = tasks.join_all().await;
    assert!(
        results.iter().all(|(status, _)| *status == StatusCode::OK),
        "{results:?}"
    );
    assert!(
        results.iter().all(|(_, t)| *t == results[0].1),
        "{results:?}"
    );
}

#[tokio::test]
async fn refresh_token_reused_after_grace_revokes_the_session() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let next: Value = app
        .refresh(&s(&login, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    app.clock.advance(11);
    // The holder of the chain moves on: the successor has been presented.
    let after: Value = app
        .refresh(&s(&next, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");

    // The thief (or the victim) replays the spent token after the grace window.
    let (status, code, _) = problem(app.refresh(&s(&login, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused")
    );

    // The whole session is gone: its successor and its access tokens.
    let (status, code, _) = problem(app.refresh(&s(&next, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused")
    );
    for token in [
        s(&login, "access_token"),
        s(&next, "access_token"),
        s(&after, "access_token"),
    ] {
        let (status, code, _) = problem(app.get_bearer("/api/me", &token).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
    }
}

#[tokio::test]
async fn an_unknown_refresh_token_is_a_401_invalid_refresh_token() {
    let app = spawn_app().await;
    let response = app
        .refresh("bm90IGEgcmVhbCByZWZyZXNoIHRva2VuIGF0IGFsbCEh")
        .await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"jwtgate\", error=\"invalid_token\""
    );
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_refresh_token")
    );
}

#[tokio::test]
async fn refresh_without_any_token_is_a_401() {
    let app = spawn_app().await;
    let (status, code, _) = problem(app.post_json("/auth/refresh", &json!({})).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "missing_credentials")
    );
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    app.clock.advance(7 * 24 * 3600 + 1);
    let (status, code, _) = problem(app.refresh(&s(&login, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "session_expired")
    );
}

#[tokio::test]
async fn a_session_ends_at_its_absolute_lifetime_even_when_used() {
    let app = spawn_app().await;
    let mut token = s(&app.signed_in("ada@example.com").await, "refresh_token");
    for _ in 0..4 {
        app.clock.advance(6 * 24 * 3600);
        let next: Value = app.refresh(&token).await.json().await.expect("json");
        token = s(&next, "refresh_token");
    }
    app.clock.advance(6 * 24 * 3600);
    let (status, code, _) = problem(app.refresh(&token).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "session_expired")
    );
}

#[tokio::test]
async fn dead_sessions_are_pruned_after_a_week_and_live_chains_are_kept() {
    let app = spawn_app().await;
    let count = |sql: &'static str| {
        let store = app.store().clone();
        async move { store.test_count(sql).await.expect("count") }
    };
    // Ada logs out: her session is dead, and its two refresh tokens with it.
    let ada = app.signed_in("ada@example.com").await;
    let ada_next: Value = app
        .refresh(&s(&ada, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        app.logout(&s(&ada_next, "access_token")).await.status(),
        StatusCode::NO_CONTENT
    );
    app.clock.advance(7 * 24 * 3600 + 1);
    // Bob's session is alive and has a spent token, which must survive for reuse detection.
    let bob = app.signed_in("bob@example.com").await;
    let bob_next: Value = app
        .refresh(&s(&bob, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    app.refresh(&s(&bob_next, "refresh_token")).await;
    // Carol's session ended just now: within the retention, kept.
    let carol = app.signed_in("carol@example.com").await;
    app.logout(&s(&carol, "access_token")).await;
    assert_eq!(count("SELECT COUNT(*) FROM sessions").await, 3);
    assert_eq!(count("SELECT COUNT(*) FROM refresh_tokens").await, 6);

    let (sessions, _, _) = app.handle.prune_store().await.expect("prune");
    assert_eq!(sessions, 1);
    assert_eq!(count("SELECT COUNT(*) FROM sessions").await, 2);
    assert_eq!(count("SELECT COUNT(*) FROM refresh_tokens").await, 4);
    // Bob's first token, spent with its successor, is still recognised as reuse (after the grace
    // window), not as unknown.
    app.clock.advance(60);
    let (status, code, _) = problem(app.refresh(&s(&bob, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused")
    );
    // Ada's pruned token is simply unknown now.
    let (status, code, _) = problem(app.refresh(&s(&ada_next, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_refresh_token")
    );
}

#[tokio::test]
async fn a_refresh_whose_answer_was_lost_in_a_crash_is_answered_again_after_the_grace() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    // The refresh commits, then the process dies before the client reads the answer.
    let lost: Value = app
        .refresh(&s(&login, "refresh_token"))
        .await
        .json()
        .await
        .expect("json");
    let app = app.restart().await;
    // The restart took longer than the grace window; the client retries what it holds.
    app.clock.advance(60);
    let retried = app.refresh(&s(&login, "refresh_token")).await;
    assert_eq!(retried.status(), StatusCode::OK);
    let retried: Value = retried.json().await.expect("json");
    assert_eq!(s(&retried, "refresh_token"), s(&lost, "refresh_token"));
    assert_eq!(
        app.get_bearer("/api/me", &s(&retried, "access_token"))
            .await
            .status(),
        StatusCode::OK
    );

    // The chain goes on; once the successor has been used, the old token is theft again.
    let next = app.refresh(&s(&retried, "refresh_token")).await;
    assert_eq!(next.status(), StatusCode::OK);
    let (status, code, _) = problem(app.refresh(&s(&login, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "refresh_token_reused")
    );
}
