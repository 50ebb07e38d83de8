//! The admin API: the role guard on every route, listing and search, roles that cut old tokens
//! off at once, plans on the next refresh, disable/enable, ending a user's sessions, and the
//! rule that an administrator cannot lock themself out.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, problem, spawn_app};

/// A signed-in user (body transport).
pub struct Caller {
    pub id: String,
    pub access: String,
    pub refresh: String,
}

pub async fn sign_in(app: &TestApp, email: &str) -> Caller {
    let body = app.signed_in(email).await;
    caller(&body)
}

fn caller(body: &Value) -> Caller {
    Caller {
        id: body["user"]["id"].as_str().expect("id").to_owned(),
        access: body["access_token"].as_str().expect("at").to_owned(),
        refresh: body["refresh_token"].as_str().expect("rt").to_owned(),
    }
}

/// Makes `email` an administrator as an operator does (`jwtgate user add --role admin`),
/// then logs in.
pub async fn sign_in_admin(app: &TestApp, email: &str) -> Caller {
    app.handle
        .add_user(email, PASSWORD, &["admin"], false)
        .await
        .expect("add an administrator");
    let response = app.login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    caller(&response.json().await.expect("json"))
}

pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Response {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

async fn me(app: &TestApp, token: &str) -> Value {
    let response = app.get_bearer("/api/me", token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

async fn refreshed(app: &TestApp, refresh: &str) -> Caller {
    let response = app.refresh(refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    caller(&response.json().await.expect("json"))
}

fn admin_routes(id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, "/api/admin/users".to_owned(), None),
        (Method::GET, format!("/api/admin/users/{id}"), None),
        (
            Method::PUT,
            format!("/api/admin/users/{id}/roles"),
            Some(json!({"roles": ["admin"]})),
        ),
        (
            Method::PUT,
            format!("/api/admin/users/{id}/plan"),
            Some(json!({"plan": "pro"})),
        ),
        (Method::POST, format!("/api/admin/users/{id}/disable"), None),
        (Method::POST, format!("/api/admin/users/{id}/enable"), None),
        (
            Method::DELETE,
            format!("/api/admin/users/{id}/sessions"),
            None,
        ),
    ]
}

#[tokio::test]
async fn a_non_admin_gets_insufficient_scope_on_every_admin_route() {
    let app = spawn_app().await;
    let user = sign_in(&app, "ada@example.com").await;
    for (method, path, body) in admin_routes(&user.id) {
        let response = send(&app, method.clone(), &path, &user.access, body).await;
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"jwtgate\", error=\"insufficient_scope\""
        );
        let (status, code, _) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "insufficient_scope"),
            "{method} {path}"
        );
    }
    // Nothing changed: the attempted self-promotion did not happen.
    assert_eq!(me(&app, &user.access).await["roles"], json!([]));
}

#[tokio::test]
async fn admin_routes_without_credentials_are_401_missing_credentials() {
    let app = spawn_app().await;
    for (method, path, body) in admin_routes("someone") {
        let mut request = app.client.request(method.clone(), app.url(&path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"jwtgate\""
        );
        let (status, code, _) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "missing_credentials"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn an_admin_lists_and_searches_users_page_by_page() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    // A second apart, each with its own `created_at`.
    for email in ["ada@example.com", "bob@example.com", "ada.l@other.org"] {
        app.clock.advance(1);
        assert_eq!(app.register(email).await.status(), StatusCode::CREATED);
    }
    let response = send(
        &app,
        Method::GET,
        "/api/admin/users?q=ADA&per_page=1&page=2",
        &admin.access,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page: Value = response.json().await.expect("json");
    assert_eq!(page["total"], 2);
    assert_eq!(
        (page["page"].clone(), page["per_page"].clone()),
        (json!(2), json!(1))
    );
    let users = page["users"].as_array().expect("users");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["email"], "ada.l@other.org");
    assert_eq!(users[0]["plan"], "free");
    assert_eq!(users[0]["disabled"], false);
    assert!(users[0]["created_at"].is_i64());
    assert!(users[0].get("password_hash").is_none());

    let all: Value = send(
        &app,
        Method::GET,
        "/api/admin/users?per_page=1000",
        &admin.access,
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(
        (all["total"].clone(), all["per_page"].clone()),
        (json!(4), json!(100))
    );

    let bad = send(
        &app,
        Method::GET,
        "/api/admin/users?page=abc",
        &admin.access,
        None,
    )
    .await;
    let (status, code, _) = problem(bad).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_query")
    );
}

#[tokio::test]
async fn accounts_made_in_one_second_are_listed_in_the_order_they_were_made() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    // The clock stands still: every account has the same `created_at`, and their ids are
    // random, so only an order of creation kept by the store can pass (by id, 12 accounts
    // come back in creation order once in 479,001,600 runs).
    let made: Vec<String> = (0..12)
        .map(|i| format!("same-second-{i}@example.com"))
        .collect();
    for email in &made {
        assert_eq!(app.register(email).await.status(), StatusCode::CREATED);
    }
    let page: Value = send(
        &app,
        Method::GET,
        "/api/admin/users?q=same-second&per_page=100",
        &admin.access,
        None,
    )
    .await
    .json()
    .await
    .expect("json");
    let listed: Vec<&str> = page["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["email"].as_str().expect("email"))
        .collect();
    assert_eq!(listed, made);
}

#[tokio::test]
async fn an_unknown_user_is_not_found() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    for (method, path, body) in admin_routes("no-such-user").into_iter().skip(1) {
        let response = send(&app, method.clone(), &path, &admin.access, body).await;
        let (status, code, _) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn a_role_change_cuts_off_the_old_access_token_at_once_and_the_next_refresh_carries_the_new_roles()
 {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let user = sign_in(&app, "ada@example.com").await;
    assert_eq!(me(&app, &user.access).await["roles"], json!([]));

    let response = send(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{}/roles", user.id),
        &admin.access,
        Some(json!({"roles": ["editor", "billing", "editor"]})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["roles"], json!(["billing", "editor"]));

    // Same second: the old token is refused already.
    let old = app.get_bearer("/api/me", &user.access).await;
    let (status, code, _) = problem(old).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );

    // The session lives on, and the next refresh (same second) carries the new roles.
    let next = refreshed(&app, &user.refresh).await;
    assert_eq!(
        me(&app, &next.access).await["roles"],
        json!(["billing", "editor"])
    );
    app.clock.advance(60);
    assert_eq!(
        me(&app, &next.access).await["roles"],
        json!(["billing", "editor"])
    );
}

#[tokio::test]
async fn a_role_cut_off_survives_a_restart() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let user = sign_in(&app, "ada@example.com").await;
    let response = send(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{}/roles", user.id),
        &admin.access,
        Some(json!({"roles": ["editor"]})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let app = app.restart().await;
    let (status, code, _) = problem(app.get_bearer("/api/me", &user.access).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn invalid_role_names_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let user = sign_in(&app, "ada@example.com").await;
    let too_many: Vec<String> = (0..17).map(|i| format!("r{i}")).collect();
    for roles in [
        json!(["Admin"]),
        json!(["a b"]),
        json!(["-x"]),
        json!([""]),
        json!(too_many),
    ] {
        let response = send(
            &app,
            Method::PUT,
            &format!("/api/admin/users/{}/roles", user.id),
            &admin.access,
            Some(json!({ "roles": roles })),
        )
        .await;
        let (status, code, body) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            "{roles}"
        );
        assert!(body["detail"].as_str().expect("detail").contains("role"));
    }
}

#[tokio::test]
async fn an_admin_cannot_disable_themself_or_drop_their_own_admin_role() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let attempts = [
        (
            Method::POST,
            format!("/api/admin/users/{}/disable", admin.id),
            None,
        ),
        (
            Method::PUT,
            format!("/api/admin/users/{}/roles", admin.id),
            Some(json!({"roles": ["editor"]})),
        ),
    ];
    for (method, path, body) in attempts {
        let response = send(&app, method.clone(), &path, &admin.access, body).await;
        let (status, code, _) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::CONFLICT, "cannot_modify_self"),
            "{method} {path}"
        );
    }
    assert_eq!(me(&app, &admin.access).await["roles"], json!(["admin"]));
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_blocks_login_until_enabled() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let user = sign_in(&app, "ada@example.com").await;
    let response = send(
        &app,
        Method::POST,
        &format!("/api/admin/users/{}/disable", user.id),
        &admin.access,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["disabled"], true);

    let (status, code, _) = problem(app.get_bearer("/api/me", &user.access).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (status, code, _) = problem(app.refresh(&user.refresh).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "disabled_by_admin")
    );
    let (status, code, _) = problem(app.login("ada@example.com", PASSWORD).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "account_disabled")
    );
    // A wrong password still answers as for anyone: being disabled is no oracle for guessers.
    let (status, code, _) = problem(app.login("ada@example.com", "wrong password!").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );

    let response = send(
        &app,
        Method::POST,
        &format!("/api/admin/users/{}/enable", user.id),
        &admin.access,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn ending_a_users_sessions_signs_every_device_out() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let phone = sign_in(&app, "ada@example.com").await;
    let laptop = caller(
        &app.login("ada@example.com", PASSWORD)
            .await
            .json::<Value>()
            .await
            .expect("json"),
    );
    let response = send(
        &app,
        Method::DELETE,
        &format!("/api/admin/users/{}/sessions", phone.id),
        &admin.access,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["ended_sessions"], 2);
    for device in [&phone, &laptop] {
        let (status, code, _) = problem(app.get_bearer("/api/me", &device.access).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
        let (status, code, _) = problem(app.refresh(&device.refresh).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "signed_out_by_admin")
        );
    }
    // The account itself is fine.
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn new_tokens_carry_plan_free_and_a_plan_change_takes_effect_on_the_next_refresh() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let user = sign_in(&app, "ada@example.com").await;
    assert_eq!(me(&app, &user.access).await["plan"], "free");

    let unknown = send(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{}/plan", user.id),
        &admin.access,
        Some(json!({"plan": "platinum"})),
    )
    .await;
    let (status, code, body) = problem(unknown).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    assert!(body["detail"].as_str().expect("detail").contains("plan"));

    let response = send(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{}/plan", user.id),
        &admin.access,
        Some(json!({"plan": "pro"})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    // The current token keeps its plan until it is refreshed: no revocation for a plan.
    assert_eq!(me(&app, &user.access).await["plan"], "free");
    let next = refreshed(&app, &user.refresh).await;
    assert_eq!(me(&app, &next.access).await["plan"], "pro");
}

#[tokio::test]
async fn a_cookie_admin_needs_the_csrf_header_to_change_anything() {
    let app = spawn_app().await;
    let _ = sign_in_admin(&app, "root@example.com").await;
    let user = sign_in(&app, "ada@example.com").await;
    let login = app
        .post_json(
            "/auth/login",
            &json!({"email": "root@example.com", "password": PASSWORD, "transport": "cookie"}),
        )
        .await;
    let cookies = crate::helpers::set_cookies(&login);
    let access = crate::helpers::cookie_value(&cookies["__Host-jwtgate_at"]);
    let csrf = login.json::<Value>().await.expect("json")["csrf_token"]
        .as_str()
        .expect("csrf")
        .to_owned();
    let cookie = format!("__Host-jwtgate_at={access}");
    // Ending sessions, and registering an OAuth client (its own router's guard, the same rule).
    for (method, path, body, done) in [
        (
            Method::DELETE,
            format!("/api/admin/users/{}/sessions", user.id),
            None,
            StatusCode::OK,
        ),
        (
            Method::POST,
            "/api/admin/clients".to_owned(),
            Some(json!({"name": "Orders", "redirect_uris": ["https://o.example/cb"]})),
            StatusCode::CREATED,
        ),
    ] {
        let request = || {
            let request = app
                .client
                .request(method.clone(), app.url(&path))
                .header("cookie", &cookie);
            match &body {
                Some(body) => request.json(body),
                None => request,
            }
        };
        let (status, code, _) = problem(request().send().await.expect("request")).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "csrf_failed"),
            "{method} {path}"
        );
        let with = request()
            .header("x-csrf-token", &csrf)
            .send()
            .await
            .expect("request");
        assert_eq!(with.status(), done, "{method} {path}");
    }
}

/// A login racing the disable can create a session after the admin ended them all; the next
/// refresh still refuses it. Simulated by setting the flag without ending sessions.
#[tokio::test]
async fn a_session_that_outlived_a_disable_is_ended_at_its_next_refresh() {
    let app = spawn_app().await;
    let user = sign_in(&app, "ada@example.com").await;
    app.store()
        .test_sql(&format!(
            "UPDATE users SET disabled_at = 1 WHERE id = '{}'",
            user.id
        ))
        .await
        .expect("disable behind the server's back");
    let (status, code, _) = problem(app.refresh(&user.refresh).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "disabled_by_admin")
    );
    let (status, code, _) = problem(app.get_bearer("/api/me", &user.access).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn admin_actions_are_recorded_in_the_audit_log_with_actor_and_subject() {
    let app = spawn_app().await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let bob = sign_in(&app, "bob@example.com").await;

    let response = send(
        &app,
        Method::PUT,
        &format!("/api/admin/users/{}/roles", bob.id),
        &admin.access,
        Some(json!({"roles": ["editor"]})),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = send(
        &app,
        Method::POST,
        &format!("/api/admin/users/{}/disable", bob.id),
        &admin.access,
        None,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    let page: Value = app
        .get_bearer("/api/admin/audit?limit=100", &admin.access)
        .await
        .json()
        .await
        .expect("json");
    let events = page["events"].as_array().expect("events");
    for action in ["set_roles", "disable_user"] {
        let event = events
            .iter()
            .find(|e| e["event"] == action)
            .unwrap_or_else(|| panic!("{action} recorded: {page}"));
        assert_eq!(event["actor_id"], admin.id.as_str(), "{action}");
        assert_eq!(event["subject_id"], bob.id.as_str(), "{action}");
        assert_eq!(event["outcome"], "success", "{action}");
    }
}

/// How many enabled administrators the admin API lists.
async fn enabled_admins(app: &TestApp, token: &str) -> usize {
    let page: Value = send(app, Method::GET, "/api/admin/users", token, None)
        .await
        .json()
        .await
        .expect("json");
    page["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter(|u| {
            u["disabled"] == false
                && u["roles"]
                    .as_array()
                    .is_some_and(|r| r.contains(&json!("admin")))
        })
        .count()
}

// Several worker threads: the two requests really run at the same time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_admins_demoting_or_disabling_each_other_at_once_leave_one_admin() {
    for round in 0..40 {
        let app = spawn_app().await;
        let a = sign_in_admin(&app, "a@example.com").await;
        let b = sign_in_admin(&app, "b@example.com").await;
        let (path_a, path_b, method, body) = if round % 2 == 0 {
            let demote = Some(json!({"roles": []}));
            (
                format!("/api/admin/users/{}/roles", b.id),
                format!("/api/admin/users/{}/roles", a.id),
                Method::PUT,
                demote,
            )
        } else {
            (
                format!("/api/admin/users/{}/disable", b.id),
                format!("/api/admin/users/{}/disable", a.id),
                Method::POST,
                None,
            )
        };
        let (by_a, by_b) = tokio::join!(
            send(&app, method.clone(), &path_a, &a.access, body.clone()),
            send(&app, method, &path_b, &b.access, body),
        );
        let mut outcomes = Vec::new();
        let mut winner = None;
        for (response, caller) in [(by_a, &a), (by_b, &b)] {
            if response.status() == StatusCode::OK {
                winner = Some(caller.access.clone());
                outcomes.push("ok".to_owned());
            } else {
                let (status, code, _) = problem(response).await;
                outcomes.push(format!("{} {code}", status.as_u16()));
            }
        }
        // One wins; the other is refused as the last admin, or, had the winner's change reached
        // its token first, as a cut-off token. Never both.
        outcomes.sort();
        assert!(
            outcomes == ["409 last_admin", "ok"] || outcomes == ["401 invalid_token", "ok"],
            "round {round}: {outcomes:?}"
        );
        let winner = winner.expect("a winner");
        assert_eq!(enabled_admins(&app, &winner).await, 1, "round {round}");
    }
}

#[tokio::test]
async fn the_configured_plans_are_listed_for_administrators_only() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.rate_limits = "free=60,pro=600,team=6000".parse().expect("limits");
    })
    .await;
    let admin = sign_in_admin(&app, "root@example.com").await;
    let user = sign_in(&app, "ada@example.com").await;
    let response = send(&app, Method::GET, "/api/admin/plans", &admin.access, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({
            "plans": [
                {"name": "free", "requests_per_minute": 60},
                {"name": "pro", "requests_per_minute": 600},
                {"name": "team", "requests_per_minute": 6000},
            ],
            "default": "free",
            "enforced": true,
        })
    );
    let (status, code, _) =
        problem(send(&app, Method::GET, "/api/admin/plans", &user.access, None).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
}

// The HTTP race above may be settled by the winner's token cut-off before the store's guard is
// reached; here the store alone decides, so the guard itself must refuse one of the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_refuses_the_second_of_two_concurrent_demotions_as_the_last_admin() {
    use jwtgate::store::admin::Guarded;
    for round in 0..20 {
        let app = spawn_app().await;
        let a = sign_in_admin(&app, "a@example.com").await;
        let b = sign_in_admin(&app, "b@example.com").await;
        let store = app.store();
        let (by_a, by_b) = tokio::join!(
            store.set_roles(&b.id, &[], 0),
            store.set_roles(&a.id, &[], 0),
        );
        let mut outcomes = [by_a.expect("store"), by_b.expect("store")];
        outcomes.sort_by_key(|g| matches!(g, Guarded::LastAdmin));
        assert_eq!(
            outcomes,
            [Guarded::Done(()), Guarded::LastAdmin],
            "round {round}"
        );
    }
}
