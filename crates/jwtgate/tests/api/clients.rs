//! The OAuth client registry (issue 15): the store on both backends, the rules as the domain
//! and the admin API apply them, the secret shown once, and the admin API's guard, answers and
//! audit trail.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use jwtgate::store::NewClientRow;

use crate::admin::{send, sign_in, sign_in_admin};
use crate::helpers::{TestApp, problem, spawn_app};

fn row<'a>(
    id: &'a str,
    kind: &'a str,
    hash: Option<&'a [u8]>,
    uris: &'a [String],
) -> NewClientRow<'a> {
    NewClientRow {
        id,
        name: "Orders",
        kind,
        secret_sha256: hash,
        redirect_uris: uris,
        grants: &[],
        first_party: true,
        created_at: 1_700_000_000,
    }
}

#[tokio::test]
async fn the_store_keeps_clients_as_given_in_the_order_they_were_made_and_removes_them_once() {
    let app = spawn_app().await;
    let store = app.store();
    let uris = vec![
        "https://Orders.example.com/cb?x=1".to_owned(),
        "http://127.0.0.1:8000/cb".to_owned(),
    ];
    store
        .add_client(&row("c1", "confidential", Some(&[7; 32]), &uris))
        .await
        .expect("add");
    store
        .add_client(&row("a2", "public", None, &[]))
        .await
        .expect("add");

    let listed = store.clients().await.expect("list");
    assert_eq!(
        listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["c1", "a2"]
    );
    let one = store.client("c1").await.expect("read").expect("there");
    assert_eq!(one.redirect_uris, uris, "kept exactly as given");
    assert!(one.first_party);
    assert_eq!(one.kind, "confidential");
    assert_eq!(store.client("nope").await.expect("read"), None);

    assert!(store.remove_client("c1").await.expect("remove"));
    assert!(!store.remove_client("c1").await.expect("remove again"));
    assert_eq!(store.clients().await.expect("list").len(), 1);
}

#[tokio::test]
async fn the_database_refuses_a_public_client_with_a_secret_and_a_confidential_one_without() {
    let app = spawn_app().await;
    let store = app.store();
    assert!(
        store
            .add_client(&row("p", "public", Some(&[1; 32]), &[]))
            .await
            .is_err()
    );
    assert!(
        store
            .add_client(&row("c", "confidential", None, &[]))
            .await
            .is_err()
    );
    assert!(
        store
            .add_client(&row("k", "kiosk", None, &[]))
            .await
            .is_err()
    );
    assert!(store.clients().await.expect("list").is_empty());
}

fn client_routes() -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/admin/clients".to_owned(), None),
        (
            Method::POST,
            "/api/admin/clients".to_owned(),
            Some(json!({"name": "Orders", "redirect_uris": ["https://o.example/cb"]})),
        ),
        (Method::GET, "/api/admin/clients/someid".to_owned(), None),
        (Method::DELETE, "/api/admin/clients/someid".to_owned(), None),
    ]
}

/// `POST /api/admin/clients` with `body`, as `token`.
async fn register(app: &TestApp, token: &str, body: Value) -> Response {
    send(app, Method::POST, "/api/admin/clients", token, Some(body)).await
}

#[tokio::test]
async fn the_client_routes_are_401_without_a_token_and_403_without_the_admin_role() {
    let app = spawn_app().await;
    let user = sign_in(&app, "ada@example.com").await;
    for (method, path, body) in client_routes() {
        let mut anonymous = app.client.request(method.clone(), app.url(&path));
        if let Some(body) = &body {
            anonymous = anonymous.json(body);
        }
        let (status, code, _) = problem(anonymous.send().await.expect("request")).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "missing_credentials"),
            "{method} {path}"
        );
        let (status, code, _) =
            problem(send(&app, method.clone(), &path, &user.access, body).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "insufficient_scope"),
            "{method} {path}"
        );
    }
    assert!(app.store().clients().await.expect("list").is_empty());
}

#[tokio::test]
async fn an_admin_registers_shows_lists_and_removes_a_client_and_sees_its_secret_once() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let response = register(
        &app,
        &admin.access,
        json!({
            "name": " Orders dashboard ",
            "redirect_uris": ["https://orders.example.com/cb", "http://127.0.0.1:8765/cb"],
            "first_party": true,
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let added: Value = response.json().await.expect("json");
    let id = added["client_id"].as_str().expect("client_id").to_owned();
    let secret = added["client_secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("jgc_") && secret.len() == 47, "{secret}");
    assert!(!id.starts_with('-') && id != "jwtgate");
    assert_eq!(added["name"], "Orders dashboard");
    assert_eq!(added["kind"], "confidential");
    assert_eq!(
        added["grants"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        added["redirect_uris"],
        json!(["https://orders.example.com/cb", "http://127.0.0.1:8765/cb"])
    );
    assert_eq!(added["first_party"], true);

    let shown = send(
        &app,
        Method::GET,
        &format!("/api/admin/clients/{id}"),
        &admin.access,
        None,
    )
    .await;
    assert_eq!(shown.status(), StatusCode::OK);
    let shown = shown.text().await.expect("text");
    let listed = send(&app, Method::GET, "/api/admin/clients", &admin.access, None).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let listed = listed.text().await.expect("text");
    let audit = app
        .get_bearer("/api/admin/audit?limit=100", &admin.access)
        .await
        .text()
        .await
        .expect("text");
    for (what, text) in [("show", &shown), ("list", &listed), ("audit", &audit)] {
        assert!(
            !text.contains(&secret),
            "the secret is not in {what}: {text}"
        );
        assert!(
            !text.contains("secret_sha256") && !text.contains("client_secret"),
            "{what}"
        );
    }
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed["clients"][0]["client_id"], id.as_str());
    assert_eq!(
        listed["clients"].as_array().expect("array").len(),
        1,
        "no built-in client"
    );
    let shown: Value = serde_json::from_str(&shown).expect("json");
    assert_eq!(shown["client"]["name"], "Orders dashboard");

    let removed = send(
        &app,
        Method::DELETE,
        &format!("/api/admin/clients/{id}"),
        &admin.access,
        None,
    )
    .await;
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    for method in [Method::GET, Method::DELETE] {
        let (status, code, _) = problem(
            send(
                &app,
                method,
                &format!("/api/admin/clients/{id}"),
                &admin.access,
                None,
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "client_not_found")
        );
    }

    let audit: Value = app
        .get_bearer("/api/admin/audit?limit=100", &admin.access)
        .await
        .json()
        .await
        .expect("json");
    let events = audit["events"].as_array().expect("events");
    for action in ["client_added", "client_removed"] {
        let event = events
            .iter()
            .find(|e| e["event"] == action && e["outcome"] == "success")
            .unwrap_or_else(|| panic!("{action} recorded: {audit}"));
        assert_eq!(event["actor_id"], admin.id.as_str(), "{action}");
        assert_eq!(event["subject_id"], id.as_str(), "{action}");
    }
}

#[tokio::test]
async fn a_public_client_has_no_secret() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let response = register(
        &app,
        &admin.access,
        json!({"name": "SPA", "kind": "public", "redirect_uris": ["http://[::1]:5173/cb"]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let added: Value = response.json().await.expect("json");
    assert_eq!(added["kind"], "public");
    assert_eq!(added["client_secret"], Value::Null);
}

#[tokio::test]
async fn each_bad_field_is_refused_with_422_naming_it() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let uris = json!(["https://o.example/cb"]);
    for (body, field) in [
        (json!({"name": "", "redirect_uris": uris}), "name"),
        (
            json!({"name": "x".repeat(101), "redirect_uris": uris}),
            "name",
        ),
        (
            json!({"name": "a\u{1b}[31mb", "redirect_uris": uris}),
            "name",
        ),
        (json!({"name": "jwtgate", "redirect_uris": uris}), "name"),
        (
            json!({"name": "Orders", "kind": "secret", "redirect_uris": uris}),
            "kind",
        ),
        (json!({"name": "Orders"}), "redirect_uris"),
        (
            json!({"name": "Orders", "redirect_uris": ["http://orders.example.com/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "Orders", "redirect_uris": ["https://o.example/cb#x"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "Orders", "redirect_uris": ["/cb"]}),
            "redirect_uris",
        ),
        (
            json!({"name": "Orders", "redirect_uris": uris, "grants": ["implicit"]}),
            "grants",
        ),
        (
            json!({"name": "SPA", "kind": "public", "redirect_uris": uris,
                   "grants": ["authorization_code", "client_credentials"]}),
            "grants",
        ),
        (
            json!({"name": "SPA", "kind": "public", "redirect_uris": uris, "client_secret": "s"}),
            "client_secret",
        ),
        (
            json!({"name": "Orders", "redirect_uris": uris, "client_secret": "jgc_mine"}),
            "client_secret",
        ),
    ] {
        let (status, code, problem) =
            problem(register(&app, &admin.access, body.clone()).await).await;
        assert_eq!(
            (status, code.as_str(), problem["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                Some(field)
            ),
            "{body}"
        );
    }
    assert!(app.store().clients().await.expect("list").is_empty());
}
