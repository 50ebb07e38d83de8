//! Browser transport: cookie attributes, CSRF on cookie-authenticated state changes, cookie refresh and logout.
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, cookie_value, problem, set_cookies, spawn_app};

const AT: &str = "__Host-jwtgate_at";
const RT: &str = "__Host-jwtgate_rt";
/// The refresh cookie of earlier versions: a sibling subdomain could plant it.
const LEGACY_RT: &str = "__Secure-jwtgate_rt";

struct Browser {
    id: String,
    access: String,
    refresh: String,
    csrf: String,
}

async fn cookie_login(app: &TestApp) -> (Response, Browser) {
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let response = app
        .post_json(
            "/auth/login",
            &json!({"email": "ada@example.com", "password": PASSWORD, "transport": "cookie"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    let browser = Browser {
        id: String::new(),
        access: cookie_value(&cookies[AT]),
        refresh: cookie_value(&cookies[RT]),
        csrf: String::new(),
    };
    (response, browser)
}

async fn logged_in(app: &TestApp) -> Browser {
    let (response, mut browser) = cookie_login(app).await;
    let body: Value = response.json().await.expect("json");
    browser.csrf = body["csrf_token"].as_str().expect("csrf").to_owned();
    browser.id = body["user"]["id"].as_str().expect("id").to_owned();
    browser
}

fn post_with_cookies(app: &TestApp, path: &str, cookies: &str) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(path))
        .header("cookie", cookies.to_owned())
}

#[tokio::test]
async fn cookie_login_sets_hardened_cookies_and_no_token_in_the_body() {
    let app = spawn_app().await;
    let (response, _) = cookie_login(&app).await;
    let cookies = set_cookies(&response);
    let access = &cookies[AT];
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/;",
        "Max-Age=900",
    ] {
        assert!(access.contains(attribute), "{access} lacks {attribute}");
    }
    let refresh = &cookies[RT];
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/;",
        "Max-Age=2592000",
    ] {
        assert!(refresh.contains(attribute), "{refresh} lacks {attribute}");
    }
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "cookie");
    assert_eq!(body["expires_in"], 900);
    assert!(body["csrf_token"].is_string());
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    assert_eq!(body["user"]["email"], "ada@example.com");
}

#[tokio::test]
async fn the_access_cookie_authenticates_reads_without_csrf() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let response = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", format!("{AT}={}", browser.access))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let csrf: Value = app
        .client
        .get(app.url("/auth/csrf"))
        .header("cookie", format!("{AT}={}", browser.access))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(csrf["csrf_token"], browser.csrf.as_str());
}

#[tokio::test]
async fn cookie_refresh_without_the_csrf_header_is_a_403() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let response = post_with_cookies(&app, "/auth/refresh", &format!("{RT}={}", browser.refresh))
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );
}

#[tokio::test]
async fn cookie_refresh_with_a_wrong_csrf_header_is_a_403() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let response = post_with_cookies(&app, "/auth/refresh", &format!("{RT}={}", browser.refresh))
        .header(
            "x-csrf-token",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );
}

#[tokio::test]
async fn cookie_refresh_with_csrf_rotates_the_cookies() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    app.clock.advance(60);
    let response = post_with_cookies(&app, "/auth/refresh", &format!("{RT}={}", browser.refresh))
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    assert_ne!(cookie_value(&cookies[RT]), browser.refresh);
    assert_ne!(cookie_value(&cookies[AT]), browser.access);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["token_type"], "cookie");
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn refresh_token_in_body_and_cookie_at_once_is_a_400() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let response = post_with_cookies(&app, "/auth/refresh", &format!("{RT}={}", browser.refresh))
        .header("x-csrf-token", &browser.csrf)
        .json(&json!({"refresh_token": browser.refresh}))
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

#[tokio::test]
async fn cookie_logout_needs_csrf_then_clears_the_cookies_and_revokes() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let cookies = format!("{AT}={}; {RT}={}", browser.access, browser.refresh);

    let (status, code, _) = problem(
        post_with_cookies(&app, "/auth/logout", &cookies)
            .send()
            .await
            .expect("request"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "csrf_failed")
    );

    let response = post_with_cookies(&app, "/auth/logout", &cookies)
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookies(&response);
    assert!(cleared[AT].contains("Max-Age=0") && cleared[AT].starts_with(&format!("{AT}=;")));
    assert!(cleared[RT].contains("Max-Age=0") && cleared[RT].contains("Path=/;"));

    let response = app
        .client
        .get(app.url("/api/me"))
        .header("cookie", format!("{AT}={}", browser.access))
        .send()
        .await
        .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
}

#[tokio::test]
async fn the_csrf_token_can_be_recovered_with_the_refresh_cookie_alone() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let response = app
        .client
        .get(app.url("/auth/csrf"))
        .header("cookie", format!("{RT}={}", browser.refresh))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["csrf_token"], browser.csrf.as_str());
}

#[tokio::test]
async fn the_refresh_cookie_is_host_only_and_the_old_plantable_name_is_cleared_and_ignored() {
    let app = spawn_app().await;
    let (response, browser) = cookie_login(&app).await;
    let cookies = set_cookies(&response);
    let refresh = &cookies[RT];
    assert!(
        !refresh.to_ascii_lowercase().contains("domain="),
        "{refresh}"
    );
    assert!(
        cookies[LEGACY_RT].contains("Max-Age=0"),
        "{:?}",
        cookies.get(LEGACY_RT)
    );
    // A sibling subdomain plants a valid refresh token of the attacker's own account under
    // the old name: it signs nobody in.
    let response = post_with_cookies(
        &app,
        "/auth/refresh",
        &format!("{LEGACY_RT}={}", browser.refresh),
    )
    .send()
    .await
    .expect("request");
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "missing_credentials")
    );
}

#[tokio::test]
async fn a_sign_in_cookie_sent_twice_is_a_401_that_clears_both() {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let twice = [
        (
            "/auth/refresh",
            format!("{RT}={0}; {RT}=planted", browser.refresh),
        ),
        (
            "/auth/csrf",
            format!("{RT}=planted; {RT}={0}", browser.refresh),
        ),
        ("/api/me", format!("{AT}={0}; {AT}=planted", browser.access)),
    ];
    for (path, cookies) in twice {
        let request = if path == "/auth/refresh" {
            post_with_cookies(&app, path, &cookies).header("x-csrf-token", &browser.csrf)
        } else {
            app.client.get(app.url(path)).header("cookie", cookies)
        };
        let response = request.send().await.expect("request");
        let cleared = set_cookies(&response);
        for name in [AT, RT, LEGACY_RT] {
            assert!(
                cleared.get(name).is_some_and(|c| c.contains("Max-Age=0")),
                "{path}: {name} not cleared in {cleared:?}"
            );
        }
        let (status, code, _) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::UNAUTHORIZED, "duplicate_cookie"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_cookie_sign_in_from_another_site_is_refused() {
    let app = spawn_app().await;
    assert_eq!(
        app.register("ada@example.com").await.status(),
        StatusCode::CREATED
    );
    let login = |headers: Vec<(&'static str, String)>, transport: &'static str| {
        let mut request = app.client.post(app.url("/auth/login")).json(
            &json!({"email": "ada@example.com", "password": PASSWORD, "transport": transport}),
        );
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    for forged in [
        vec![("origin", "https://evil.example".to_owned())],
        vec![("origin", "null".to_owned())],
        vec![("sec-fetch-site", "cross-site".to_owned())],
    ] {
        let response = login(forged.clone(), "cookie").await.expect("request");
        assert!(!set_cookies(&response).contains_key(AT), "{forged:?}");
        let (status, code, _) = problem(response).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::FORBIDDEN, "origin_not_allowed"),
            "{forged:?}"
        );
    }
    // The server's own page, and clients that send no Origin at all, sign in.
    let own = app.address.clone();
    let ok = login(
        vec![
            ("origin", own),
            ("sec-fetch-site", "same-origin".to_owned()),
        ],
        "cookie",
    );
    assert_eq!(ok.await.expect("request").status(), StatusCode::OK);
    assert_eq!(
        login(vec![], "cookie").await.expect("request").status(),
        StatusCode::OK
    );
    // A Bearer sign-in sets no cookie: another origin may ask for one (CORS decides).
    let bearer = login(vec![("origin", "https://app.example".to_owned())], "body");
    assert_eq!(bearer.await.expect("request").status(), StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_access_cookie_stands_in_the_way_of_neither_refresh_nor_sign_out() {
    let app = spawn_app().await;
    let admin = crate::admin::sign_in_admin(&app, "root@example.com").await;
    let browser = logged_in(&app).await;
    let cut_off = || async {
        let response = crate::admin::send(
            &app,
            reqwest::Method::PUT,
            &format!("/api/admin/users/{}/roles", browser.id),
            &admin.access,
            Some(json!({"roles": ["editor"]})),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    };
    cut_off().await;
    let both = format!("{AT}={}; {RT}={}", browser.access, browser.refresh);
    let me = app.client.get(app.url("/api/me")).header("cookie", &both);
    let (status, code, _) = problem(me.send().await.expect("request")).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );

    // After a page reload the script asks for the CSRF token, then refreshes.
    let csrf: Value = app
        .client
        .get(app.url("/auth/csrf"))
        .header("cookie", &both)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(csrf["csrf_token"], browser.csrf.as_str());
    let refreshed = post_with_cookies(&app, "/auth/refresh", &both)
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .expect("request");
    assert_eq!(refreshed.status(), StatusCode::OK);
    let cookies = set_cookies(&refreshed);
    let (access, refresh) = (cookie_value(&cookies[AT]), cookie_value(&cookies[RT]));

    // Cut off again, then sign out with the refused access cookie still attached.
    app.clock.advance(1);
    cut_off().await;
    let both = format!("{AT}={access}; {RT}={refresh}");
    let out = post_with_cookies(&app, "/auth/logout", &both)
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .expect("request");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let (status, code, _) = problem(app.refresh(&refresh).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "logout")
    );
}

#[tokio::test]
async fn a_page_loaded_after_its_session_ended_learns_why_from_the_csrf_request_and_the_cookies_are_cleared()
 {
    let app = spawn_app().await;
    let browser = logged_in(&app).await;
    let elsewhere: Value = app
        .login("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    let ended = app
        .client
        .post(app.url("/auth/logout"))
        .bearer_auth(elsewhere["access_token"].as_str().expect("access"))
        .json(&json!({"scope": "others"}))
        .send()
        .await
        .expect("request");
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);

    // The page's reload: both cookies, the access one refused, the refresh one's session over.
    let response = app
        .client
        .get(app.url("/auth/csrf"))
        .header(
            "cookie",
            format!("{AT}={}; {RT}={}", browser.access, browser.refresh),
        )
        .send()
        .await
        .expect("request");
    let cleared = set_cookies(&response);
    for name in [AT, RT] {
        assert!(
            cleared.get(name).is_some_and(|c| c.contains("Max-Age=0")),
            "{name} not cleared in {cleared:?}"
        );
    }
    let (status, code, _) = problem(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "signed_out_elsewhere")
    );
}
