//! `/api/todos`: CRUD of one's own items, another user's item as 404, administrators reading
//! everyone's, validation errors that name the field, and both token transports.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::admin::{send, sign_in, sign_in_admin};
use crate::helpers::{PASSWORD, cookie_value, problem, set_cookies, spawn_app};

#[tokio::test]
async fn a_user_creates_reads_updates_and_deletes_their_todo() {
    let app = spawn_app().await;
    let ada = sign_in(&app, "ada@example.com").await;
    let created = send(
        &app,
        Method::POST,
        "/api/todos",
        &ada.access,
        Some(json!({"title": "  buy milk  "})),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let todo = created.json::<Value>().await.expect("json")["todo"].clone();
    assert_eq!(todo["title"], "buy milk");
    assert_eq!(todo["done"], false);
    assert_eq!(todo["created_at"], 1_800_000_000);
    assert_eq!(
        location,
        format!("/api/todos/{}", todo["id"].as_str().expect("id"))
    );

    app.clock.advance(5);
    let patched = send(
        &app,
        Method::PATCH,
        &location,
        &ada.access,
        Some(json!({"done": true})),
    )
    .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let todo = patched.json::<Value>().await.expect("json")["todo"].clone();
    assert_eq!(
        (todo["title"].clone(), todo["done"].clone()),
        (json!("buy milk"), json!(true))
    );
    assert_eq!(todo["updated_at"], 1_800_000_005);

    let list: Value = send(&app, Method::GET, "/api/todos", &ada.access, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["todos"].as_array().expect("todos").len(), 1);

    let deleted = send(&app, Method::DELETE, &location, &ada.access, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let (status, code, _) =
        problem(send(&app, Method::GET, &location, &ada.access, None).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

#[tokio::test]
async fn one_user_reaching_another_users_todo_gets_404_never_403() {
    let app = spawn_app().await;
    let ada = sign_in(&app, "ada@example.com").await;
    let bob = sign_in(&app, "bob@example.com").await;
    let created = send(
        &app,
        Method::POST,
        "/api/todos",
        &ada.access,
        Some(json!({"title": "secret"})),
    )
    .await;
    let id = created.json::<Value>().await.expect("json")["todo"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let path = format!("/api/todos/{id}");
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"title": "mine now"}))),
        (Method::DELETE, None),
    ] {
        let (status, code, _) =
            problem(send(&app, method.clone(), &path, &bob.access, body).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method}"
        );
    }
    let list: Value = send(&app, Method::GET, "/api/todos", &bob.access, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["todos"], json!([]));
    let still: Value = send(&app, Method::GET, &path, &ada.access, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(still["todo"]["title"], "secret");
}

#[tokio::test]
async fn an_admin_reads_everyones_todos_and_others_may_not_ask_for_all() {
    let app = spawn_app().await;
    let root = sign_in_admin(&app, "root@example.com").await;
    let ada = sign_in(&app, "ada@example.com").await;
    let bob = sign_in(&app, "bob@example.com").await;
    for user in [&ada, &bob] {
        let response = send(
            &app,
            Method::POST,
            "/api/todos",
            &user.access,
            Some(json!({"title": "x"})),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let all: Value = send(&app, Method::GET, "/api/todos?all=true", &root.access, None)
        .await
        .json()
        .await
        .expect("json");
    let owners: Vec<&str> = all["todos"]
        .as_array()
        .expect("todos")
        .iter()
        .map(|t| t["owner_id"].as_str().expect("owner"))
        .collect();
    assert_eq!(owners, [ada.id.as_str(), bob.id.as_str()]);
    let (status, code, _) =
        problem(send(&app, Method::GET, "/api/todos?all=true", &ada.access, None).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let app = spawn_app().await;
    let ada = sign_in(&app, "ada@example.com").await;
    let long = "x".repeat(201);
    let cases = [
        (json!({}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": long}), "title"),
        (json!({"title": 5}), "title"),
        (json!({"title": "ok", "done": "yes"}), "done"),
    ];
    for (body, field) in cases {
        let response = send(
            &app,
            Method::POST,
            "/api/todos",
            &ada.access,
            Some(body.clone()),
        )
        .await;
        let (status, code, problem_body) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            "{body}"
        );
        assert_eq!(problem_body["field"], field, "{body}");
        assert!(
            problem_body["detail"]
                .as_str()
                .expect("detail")
                .contains(field)
        );
    }
    let exactly_200 = "é".repeat(200);
    let ok = send(
        &app,
        Method::POST,
        "/api/todos",
        &ada.access,
        Some(json!({"title": exactly_200})),
    )
    .await;
    assert_eq!(ok.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn todos_need_an_access_token() {
    let app = spawn_app().await;
    let (status, code, _) = problem(app.get("/api/todos").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "missing_credentials")
    );
}

#[tokio::test]
async fn a_cookie_client_writes_a_todo_with_the_csrf_header_and_not_without() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": "ada@example.com", "password": PASSWORD, "transport": "cookie"}),
        )
        .await;
    let cookie = format!(
        "__Host-jwtgate_at={}",
        cookie_value(&set_cookies(&login)["__Host-jwtgate_at"])
    );
    let csrf = login.json::<Value>().await.expect("json")["csrf_token"]
        .as_str()
        .expect("csrf")
        .to_owned();
    let without = app
        .client
        .post(app.url("/api/todos"))
        .header("cookie", &cookie)
        .json(&json!({"title": "from the browser"}))
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(without).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );
    let with = app
        .client
        .post(app.url("/api/todos"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"title": "from the browser"}))
        .send()
        .await
        .expect("request");
    assert_eq!(with.status(), StatusCode::CREATED);
    // Reads need no CSRF header.
    let list: Value = app
        .client
        .get(app.url("/api/todos"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(list["todos"][0]["title"], "from the browser");
}
