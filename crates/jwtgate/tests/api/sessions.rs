//! Sessions: the list, revoking one from another, logout scopes, end reasons, last use.
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{problem, spawn_app};
use crate::outbox::s;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const ANDROID: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";

async fn sessions(app: &crate::helpers::TestApp, access: &str) -> Vec<Value> {
    let response = app.get_bearer("/auth/sessions", access).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    body["sessions"].as_array().expect("sessions").clone()
}

#[tokio::test]
async fn the_session_list_names_each_device_and_marks_the_current_one() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let laptop = app.login_as("ada@example.com", FIREFOX).await;
    app.clock.advance(10);
    let phone = app.login_as("ada@example.com", ANDROID).await;

    let list = sessions(&app, &s(&laptop, "access_token")).await;

    assert_eq!(list.len(), 2);
    let current: Vec<_> = list.iter().filter(|x| x["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["device"], "Firefox on Linux");
    let other = list.iter().find(|x| x["current"] == false).expect("other");
    assert_eq!(other["device"], "Chrome on Android");
    assert_eq!(other["ip"], "127.0.0.1");
    assert_eq!(other["created_at"], crate::helpers::START + 10);
    assert_eq!(other["last_used_at"], crate::helpers::START + 10);
    // The phone sees the same two, with itself as current.
    let from_phone = sessions(&app, &s(&phone, "access_token")).await;
    let me = from_phone
        .iter()
        .find(|x| x["current"] == true)
        .expect("current");
    assert_eq!(me["id"], other["id"]);
}

#[tokio::test]
async fn the_session_list_needs_credentials() {
    let app = spawn_app().await;
    let (status, code, _) = problem(app.get("/auth/sessions").await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "missing_credentials")
    );
}

#[tokio::test]
async fn revoking_a_session_from_another_session_cuts_it_off_at_once() {
    let app = spawn_app().await;
    let laptop = app.signed_in("ada@example.com").await;
    let phone = app.login_as("ada@example.com", ANDROID).await;
    let list = sessions(&app, &s(&laptop, "access_token")).await;
    let phone_id = list.iter().find(|x| x["current"] == false).expect("phone")["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let response = app
        .client
        .delete(app.url(&format!("/auth/sessions/{phone_id}")))
        .bearer_auth(s(&laptop, "access_token"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let (status, code, _) =
        problem(app.get_bearer("/api/me", &s(&phone, "access_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (status, code, _) = problem(app.refresh(&s(&phone, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "signed_out_elsewhere")
    );
    // The laptop is untouched and no longer lists the phone.
    assert_eq!(
        app.get_bearer("/api/me", &s(&laptop, "access_token"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(sessions(&app, &s(&laptop, "access_token")).await.len(), 1);
}

#[tokio::test]
async fn revoking_the_current_session_through_the_list_is_a_logout() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let list = sessions(&app, &s(&login, "access_token")).await;
    let id = list[0]["id"].as_str().expect("id").to_owned();
    let response = app
        .client
        .delete(app.url(&format!("/auth/sessions/{id}")))
        .bearer_auth(s(&login, "access_token"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, code, _) = problem(app.refresh(&s(&login, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "logout")
    );
}

#[tokio::test]
async fn another_users_session_is_not_found() {
    let app = spawn_app().await;
    let ada = app.signed_in("ada@example.com").await;
    let bob = app.signed_in("bob@example.com").await;
    let bobs = sessions(&app, &s(&bob, "access_token")).await;
    let bob_session = bobs[0]["id"].as_str().expect("id").to_owned();

    for id in [bob_session.as_str(), "no-such-session"] {
        let response = app
            .client
            .delete(app.url(&format!("/auth/sessions/{id}")))
            .bearer_auth(s(&ada, "access_token"))
            .send()
            .await
            .expect("request");
        let (status, code, _) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::NOT_FOUND, "not_found")
        );
    }
    assert_eq!(
        app.refresh(&s(&bob, "refresh_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_scope_others_ends_every_other_session_and_keeps_this_one() {
    let app = spawn_app().await;
    let laptop = app.signed_in("ada@example.com").await;
    let phone = app.login_as("ada@example.com", ANDROID).await;
    let tablet = app.login_as("ada@example.com", FIREFOX).await;

    let response = app
        .post_bearer(
            "/auth/logout",
            &s(&laptop, "access_token"),
            &json!({"scope": "others"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    for other in [&phone, &tablet] {
        let (status, code, _) =
            problem(app.get_bearer("/api/me", &s(other, "access_token")).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );
        let (status, code, _) = problem(app.refresh(&s(other, "refresh_token")).await).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "signed_out_elsewhere")
        );
    }
    assert_eq!(
        app.get_bearer("/api/me", &s(&laptop, "access_token"))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.refresh(&s(&laptop, "refresh_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_scope_all_ends_every_session_including_this_one() {
    let app = spawn_app().await;
    let laptop = app.signed_in("ada@example.com").await;
    let phone = app.login_as("ada@example.com", ANDROID).await;

    let response = app
        .post_bearer(
            "/auth/logout",
            &s(&laptop, "access_token"),
            &json!({"scope": "all"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let (status, code, _) = problem(app.refresh(&s(&laptop, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "logout")
    );
    let (status, code, _) = problem(app.refresh(&s(&phone, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "signed_out_elsewhere")
    );
    let (status, code, _) =
        problem(app.get_bearer("/api/me", &s(&phone, "access_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn logout_scope_others_works_with_the_refresh_token_alone() {
    let app = spawn_app().await;
    let laptop = app.signed_in("ada@example.com").await;
    let phone = app.login_as("ada@example.com", ANDROID).await;
    let response = app
        .post_json(
            "/auth/logout",
            &json!({"refresh_token": s(&laptop, "refresh_token"), "scope": "others"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, code, _) = problem(app.refresh(&s(&phone, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "signed_out_elsewhere")
    );
    assert_eq!(
        app.refresh(&s(&laptop, "refresh_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unknown_logout_scope_is_refused_naming_the_field() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    let response = app
        .post_bearer(
            "/auth/logout",
            &s(&login, "access_token"),
            &json!({"scope": "everyone"}),
        )
        .await;
    let (status, code, body) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field")
    );
    assert!(
        body["detail"]
            .as_str()
            .expect("detail")
            .contains("everyone")
    );
    assert_eq!(
        app.refresh(&s(&login, "refresh_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn two_concurrent_refreshes_on_one_session_stay_fine_and_mark_it_used() {
    let app = spawn_app().await;
    let login = app.signed_in("ada@example.com").await;
    app.clock.advance(120);
    let token = s(&login, "refresh_token");
    let (a, b) = tokio::join!(app.refresh(&token), app.refresh(&token));
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let a: Value = a.json().await.expect("json");
    let b: Value = b.json().await.expect("json");
    assert_eq!(a["refresh_token"], b["refresh_token"]);
    for pair in [&a, &b] {
        assert_eq!(
            app.get_bearer("/api/me", &s(pair, "access_token"))
                .await
                .status(),
            StatusCode::OK
        );
    }
    let list = sessions(&app, &s(&a, "access_token")).await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["last_used_at"], crate::helpers::START + 120);
    assert_eq!(list[0]["created_at"], crate::helpers::START);
    // Still one healthy session: the common successor rotates.
    assert_eq!(
        app.refresh(&s(&a, "refresh_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn cookie_sessions_revoke_and_sign_out_others_with_the_csrf_header() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let phone = app.login_as("ada@example.com", ANDROID).await;
    let tablet = app.login_as("ada@example.com", FIREFOX).await;
    let response = app
        .post_json(
            "/auth/login",
            &json!({"email": "ada@example.com", "password": crate::helpers::PASSWORD, "transport": "cookie"}),
        )
        .await;
    let cookies = crate::helpers::set_cookies(&response);
    let csrf = s(&response.json::<Value>().await.expect("json"), "csrf_token");
    let access = crate::helpers::cookie_value(&cookies["__Host-jwtgate_at"]);
    let cookie = format!("__Host-jwtgate_at={access}");

    let list: Value = app
        .client
        .get(app.url("/auth/sessions"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let phone_id = list["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|x| x["device"] == "Chrome on Android")
        .expect("phone")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let delete = |with_csrf: bool| {
        let mut request = app
            .client
            .delete(app.url(&format!("/auth/sessions/{phone_id}")))
            .header("cookie", &cookie);
        if with_csrf {
            request = request.header("x-csrf-token", &csrf);
        }
        request.send()
    };
    let (status, code, _) = problem(delete(false).await.expect("request")).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );
    assert_eq!(
        delete(true).await.expect("request").status(),
        StatusCode::NO_CONTENT
    );
    let (status, code, _) = problem(app.refresh(&s(&phone, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "signed_out_elsewhere")
    );

    let response = app
        .client
        .post(app.url("/auth/logout"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"scope": "others"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // This browser stays signed in: its cookies are not cleared.
    assert!(crate::helpers::set_cookies(&response).is_empty());
    let (status, code, _) = problem(app.refresh(&s(&tablet, "refresh_token")).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "signed_out_elsewhere")
    );
    let me = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(me.status(), StatusCode::OK);
}
