//! The cluster suite: real `jwtgate serve` processes sharing a PostgreSQL database behind
//! HAProxy (see `harness`). Needs `TEST_DATABASE_URL` (`./scripts/test` runs it beside a private
//! PostgreSQL); without it every test says so and passes.

#[path = "../api/database.rs"]
#[allow(dead_code, reason = "shared with the api suite, which uses all of it")]
mod database;
mod harness;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use harness::{Cluster, Link, PASSWORD, access, refresh};

async fn cluster(n: usize) -> Option<Cluster> {
    let cluster = Cluster::start(n).await;
    if cluster.is_none() {
        eprintln!("no TEST_DATABASE_URL: the cluster suite needs PostgreSQL (./scripts/test)");
    }
    cluster
}

fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).expect("claims");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("b64");
    serde_json::from_slice(&bytes).expect("json")
}

/// Waits, by asking it, until `base` answers `status` for `token` (bounded).
async fn until_me(c: &Cluster, base: &str, token: &str, status: StatusCode, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while c.me(base, token).await != status {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{base} did not answer {status} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_node_is_refused_by_the_very_next_request_to_any_other() {
    let Some(c) = cluster(3).await else { return };
    let lb = c.lb.clone();
    c.signed_in(&lb, "ada@example.com").await;
    // 50 rounds, each logging out on one node and checking on the two others at once after.
    for round in 0..50usize {
        let token = access(&c.login(&lb, "ada@example.com").await);
        for i in 0..3 {
            assert_eq!(
                c.me(c.node(i), &token).await,
                StatusCode::OK,
                "round {round}"
            );
        }
        let revoker = round % 3;
        let r = c
            .post(c.node(revoker), "/auth/logout", Some(&token), json!({}))
            .await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        for i in (0..3).filter(|i| *i != revoker) {
            let r = c
                .client
                .get(format!("{}/api/me", c.node(i)))
                .bearer_auth(&token)
                .send()
                .await
                .expect("request");
            assert_eq!(
                r.status(),
                StatusCode::UNAUTHORIZED,
                "round {round}, node {i}"
            );
            let body: Value = r.json().await.expect("json");
            assert_eq!(body["code"], "invalid_token");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_revocation_from_one_node_is_refused_at_once_by_the_others() {
    let Some(c) = cluster(3).await else { return };
    let (a, b, cc) = (
        c.node(0).to_owned(),
        c.node(1).to_owned(),
        c.node(2).to_owned(),
    );
    let root = access(&c.admin(&a, "root@example.com").await);

    // A role change on B, checked on C and A.
    let bob = c.signed_in(&a, "bob@example.com").await;
    let bob_id = bob["user"]["id"].as_str().expect("id").to_owned();
    let r = c
        .client
        .put(format!("{b}/api/admin/users/{bob_id}/roles"))
        .bearer_auth(&root)
        .json(&json!({"roles": ["editor"]}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
    for node in [&cc, &a] {
        assert_eq!(c.me(node, &access(&bob)).await, StatusCode::UNAUTHORIZED);
    }

    // A password change on C ends the user's other sessions: checked on A and B.
    let cy_phone = c.signed_in(&a, "cy@example.com").await;
    let cy_laptop = c.login(&b, "cy@example.com").await;
    let r = c
        .post(
            &cc,
            "/auth/password/change",
            Some(&access(&cy_laptop)),
            json!({"current_password": PASSWORD, "new_password": "another horse battery staple"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for node in [&a, &b] {
        assert_eq!(
            c.me(node, &access(&cy_phone)).await,
            StatusCode::UNAUTHORIZED
        );
    }

    // An administrator disables an account on A: checked on B and C.
    let di = c.signed_in(&b, "di@example.com").await;
    let di_id = di["user"]["id"].as_str().expect("id");
    let r = c
        .post(
            &a,
            &format!("/api/admin/users/{di_id}/disable"),
            Some(&root),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for node in [&b, &cc] {
        assert_eq!(c.me(node, &access(&di)).await, StatusCode::UNAUTHORIZED);
    }

    // A device revoked from B's session list: checked on A and C.
    let ed_phone = c.signed_in(&a, "ed@example.com").await;
    let ed_laptop = c.login(&a, "ed@example.com").await;
    let sid = claims(&access(&ed_phone))["sid"]
        .as_str()
        .expect("sid")
        .to_owned();
    let r = c
        .client
        .delete(format!("{b}/auth/sessions/{sid}"))
        .bearer_auth(access(&ed_laptop))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for node in [&a, &cc] {
        assert_eq!(
            c.me(node, &access(&ed_phone)).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(c.me(node, &access(&ed_laptop)).await, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_refresh_token_on_two_nodes_at_once_gets_one_successor_and_its_replay_ends_the_session()
{
    // No grace: the two at once converge because the successor is unused, not because of a
    // window; and the replay below is theft at once, not a late tab within the window.
    let Some(c) = Cluster::start_with(3, &[("JWTGATE_REFRESH_GRACE_SECS", "0")]).await else {
        eprintln!("no TEST_DATABASE_URL: the cluster suite needs PostgreSQL (./scripts/test)");
        return;
    };
    let (a, b, cc) = (
        c.node(0).to_owned(),
        c.node(1).to_owned(),
        c.node(2).to_owned(),
    );
    let first = c.signed_in(&a, "ada@example.com").await;
    let token = refresh(&first);
    let body = json!({"refresh_token": token});
    let (ra, rb) = tokio::join!(
        c.post(&a, "/auth/refresh", None, body.clone()),
        c.post(&b, "/auth/refresh", None, body.clone())
    );
    assert_eq!((ra.status(), rb.status()), (StatusCode::OK, StatusCode::OK));
    let (ja, jb): (Value, Value) = (
        ra.json().await.expect("json"),
        rb.json().await.expect("json"),
    );
    assert_eq!(ja["refresh_token"], jb["refresh_token"], "one successor");

    // The successor is used; then the spent token comes back on C: theft.
    let next = c
        .post(
            &cc,
            "/auth/refresh",
            None,
            json!({"refresh_token": refresh(&ja)}),
        )
        .await;
    assert_eq!(next.status(), StatusCode::OK);
    let next: Value = next.json().await.expect("json");
    let replay = c.post(&cc, "/auth/refresh", None, body).await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let replay: Value = replay.json().await.expect("json");
    assert_eq!(replay["code"], "refresh_token_reused");
    for node in [&a, &b, &cc] {
        for token in [access(&first), access(&ja), access(&next)] {
            assert_eq!(c.me(node, &token).await, StatusCode::UNAUTHORIZED);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_postgresql_is_drained_and_refuses_what_was_revoked_meanwhile() {
    let Some(c) = cluster(3).await else { return };
    let (a, b) = (c.node(0).to_owned(), c.node(1).to_owned());
    let live = access(&c.signed_in(&b, "ada@example.com").await);
    let doomed = access(&c.login(&b, "ada@example.com").await);

    // Black-hole A's database link: within the lease (2 s) A stops vouching for tokens.
    c.nodes[0].database_link.set(Link::BlackHole);
    let stale_by = Duration::from_secs(2) + Duration::from_secs(3);
    until_me(&c, &a, &live, StatusCode::SERVICE_UNAVAILABLE, stale_by).await;
    let r = c
        .client
        .get(format!("{a}/api/me"))
        .bearer_auth(&live)
        .send()
        .await
        .expect("request");
    assert_eq!(r.headers()["retry-after"], "1");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["code"], "revocation_view_stale");
    let ready = c
        .client
        .get(format!("{a}/readyz"))
        .send()
        .await
        .expect("request");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Meanwhile: 500 requests through HAProxy, none failing; and a revocation on B.
    let r = c.post(&b, "/auth/logout", Some(&doomed), json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    for i in 0..500 {
        assert_eq!(c.me(&c.lb, &live).await, StatusCode::OK, "request {i}");
    }

    // The link comes back: A is ready again, and refuses what was revoked while it was away.
    c.nodes[0].database_link.set(Link::Pass);
    until_me(&c, &a, &live, StatusCode::OK, Duration::from_secs(10)).await;
    assert_eq!(c.me(&a, &doomed).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_after_100_revocations_refuses_them_all_from_its_first_answer() {
    let Some(mut c) = cluster(2).await else {
        return;
    };
    let a = c.node(0).to_owned();
    c.signed_in(&a, "ada@example.com").await;
    let mut revoked = Vec::new();
    for _ in 0..100 {
        let token = access(&c.login(&a, "ada@example.com").await);
        let r = c.post(&a, "/auth/logout", Some(&token), json!({})).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        revoked.push(token);
    }
    let live = access(&c.login(&a, "ada@example.com").await);
    // The new node says where it listens only once it has rebuilt its view: its first answer
    // already refuses them.
    let d = c.add_node("node-d").await.url.clone();
    for token in &revoked {
        assert_eq!(c.me(&d, token).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(c.me(&d, &live).await, StatusCode::OK);
    let ready = c
        .client
        .get(format!("{d}/readyz"))
        .send()
        .await
        .expect("request");
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_fails_no_read_and_every_refresh_chain_converges() {
    let Some(mut c) = cluster(3).await else {
        return;
    };
    let lb = c.lb.clone();
    let reader = access(&c.signed_in(&lb, "ada@example.com").await);
    let mut chains = Vec::new();
    for i in 0..4 {
        let body = c.signed_in(&lb, &format!("chain{i}@example.com")).await;
        chains.push(refresh(&body));
    }
    let client = c.client.clone();
    let (done, mut reads_done) = tokio::sync::watch::channel(0usize);
    let reads = {
        let (client, lb, reader) = (client.clone(), lb.clone(), reader.clone());
        tokio::spawn(async move {
            let mut failed = 0;
            for n in 1..=600 {
                let ok = client
                    .get(format!("{lb}/api/me"))
                    .bearer_auth(&reader)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == StatusCode::OK);
                failed += usize::from(!ok);
                done.send_replace(n);
            }
            failed
        })
    };
    let refreshes = {
        let (client, lb) = (client.clone(), lb.clone());
        tokio::spawn(async move {
            for _ in 0..25 {
                for token in &mut chains {
                    let sent = client
                        .post(format!("{lb}/auth/refresh"))
                        .json(&json!({"refresh_token": *token}))
                        .send()
                        .await;
                    // A refresh in flight at the kill may fail; the chain goes on from the
                    // same token (its successor, if it was made, comes back again).
                    if let Ok(r) = sent
                        && r.status() == StatusCode::OK
                    {
                        let body: Value = r.json().await.expect("json");
                        *token = refresh(&body);
                    }
                }
            }
            chains
        })
    };
    // Kill one node once the load is well under way.
    reads_done
        .wait_for(|n| *n >= 150)
        .await
        .expect("reads running");
    c.nodes[1].kill().await;
    assert_eq!(reads.await.expect("reads"), 0, "no read failed");
    let chains = refreshes.await.expect("refreshes");
    for token in chains {
        let r = c
            .post(&lb, "/auth/refresh", None, json!({"refresh_token": token}))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "every chain still refreshes");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_over_three_nodes_lock_the_account_after_exactly_five_in_all() {
    let Some(c) = cluster(3).await else { return };
    c.signed_in(c.node(0), "ada@example.com").await;
    let wrong = json!({"email": "ada@example.com", "password": "not the right passphrase"});
    // Five failures (login_free_attempts_account), one node after another.
    for i in 0..5 {
        let r = c
            .post(c.node(i % 3), "/auth/login", None, wrong.clone())
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "failure {}", i + 1);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["code"], "invalid_credentials");
    }
    // Locked on every node, the right password too, each saying when it ends.
    let right = json!({"email": "ada@example.com", "password": PASSWORD});
    let mut waits = Vec::new();
    for i in 0..3 {
        let r = c.post(c.node(i), "/auth/login", None, right.clone()).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "node {i}");
        let wait: i64 = r.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["code"], "too_many_attempts");
        waits.push(wait);
    }
    // One lockout (the first: 15 s), read by three nodes: the same end, so the same wait give
    // or take the second that may tick between two requests.
    let (least, most) = (
        waits.iter().min().expect("3"),
        waits.iter().max().expect("3"),
    );
    assert!(*most <= 15 && most - least <= 1, "{waits:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_quota_through_the_load_balancer_is_kept_within_one_less_than_the_nodes() {
    let Some(c) = Cluster::start_with(3, &[("JWTGATE_RATE_LIMITS", "free=60")]).await else {
        eprintln!("no TEST_DATABASE_URL: the cluster suite needs PostgreSQL (./scripts/test)");
        return;
    };
    // Each node counts its share (60 / 3) once it sees the two others: waited for on each node
    // with a probe user, whose requests count against its own quota only.
    let probe = access(&c.signed_in(c.node(0), "probe@example.com").await);
    for i in 0..3 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let r = c
                .client
                .get(format!("{}/api/me", c.node(i)))
                .bearer_auth(&probe)
                .send()
                .await
                .expect("request");
            if r.headers()["ratelimit-policy"] == "\"free\";q=20;w=60" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {i} never saw three nodes"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let token = access(&c.signed_in(&c.lb, "ada@example.com").await);
    let mut allowed = 0;
    for _ in 0..90 {
        match c.me(&c.lb, &token).await {
            StatusCode::OK => allowed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    assert!(
        (58..=62).contains(&allowed),
        "{allowed} of a quota of 60 over 3 nodes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_on_the_feed_resumes_on_another_node_when_its_node_dies_and_misses_no_entry() {
    use std::sync::Arc;

    use jwtgate_verify::remote::{RemoteJwks, RevocationFeed};
    use jwtgate_verify::{Error as VerifyError, KeySet, Policy, Verifier};

    let Some(mut c) = Cluster::start_with(3, &[("JWTGATE_FEED_HEARTBEAT_SECS", "1")]).await else {
        eprintln!("no TEST_DATABASE_URL: the cluster suite needs PostgreSQL (./scripts/test)");
        return;
    };
    let lb = c.lb.clone();
    let secret = c.feed_credential("orders-api").await;
    // The service reads the JWKS and the feed through HAProxy, as it would in production.
    let feed = Arc::new(
        RevocationFeed::builder(lb.clone(), secret)
            .max_staleness(Duration::from_secs(5))
            .build()
            .expect("feed"),
    );
    let verifier = Verifier::new(KeySet::empty(), Policy::new(harness::ISSUER, "jwtgate"))
        .with_revocation(feed.view());
    let remote = Arc::new(
        RemoteJwks::connect(format!("{lb}/.well-known/jwks.json"), Arc::new(verifier))
            .await
            .expect("jwks"),
    );
    tokio::spawn(Arc::clone(&feed).run(Arc::clone(remote.verifier()), std::future::pending()));

    let mut tokens = Vec::new();
    for i in 0..24 {
        tokens.push(access(
            &c.signed_in(&lb, &format!("user{i}@example.com")).await,
        ));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !feed.status().fresh {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            feed.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for token in &tokens {
        assert!(remote.verify(token).await.is_ok());
    }
    let serving = feed.status().node.expect("the serving node's name");
    let dead = c
        .nodes
        .iter()
        .position(|n| n.name == serving)
        .expect("a node of ours");
    let alive = c.node((dead + 1) % 3).to_owned();

    // Eight logouts before the kill, eight right after it (while the service reconnects),
    // eight sessions left alone.
    for token in &tokens[..8] {
        let r = c.post(&alive, "/auth/logout", Some(token), json!({})).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    c.nodes[dead].kill().await;
    for token in &tokens[8..16] {
        let r = c.post(&alive, "/auth/logout", Some(token), json!({})).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }

    // Every one of the sixteen is refused by the service, from another node's stream.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for token in &tokens[..16] {
        while remote.verify(token).await != Err(VerifyError::Revoked) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "a revocation was missed: {:?}",
                feed.status()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for token in &tokens[16..] {
        assert!(remote.verify(token).await.is_ok(), "an untouched session");
    }
    let status = feed.status();
    assert!(status.fresh && status.connected, "{status:?}");
    assert_ne!(status.node.as_deref(), Some(serving.as_str()), "{status:?}");
    assert!(status.connections >= 2, "{status:?}");
}
