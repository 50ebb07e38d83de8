//! The OpenID Connect provider (issue 15) over HTTP: the authorization step as the hosted page
//! drives it, the token endpoint's grants and client authentication, ID tokens, userinfo,
//! consent, introspection, revocation and RP-initiated logout, and the attacks: a wrong
//! redirect URI, a missing or wrong PKCE verifier, a replayed code, a public client with a
//! secret, a confidential one without, and an app's token at jwtgate's own API.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::admin::{Caller, send, sign_in, sign_in_admin};
use crate::helpers::{TestApp, problem, spawn_app};

const CALLBACK: &str = "https://app.example/cb";

struct App {
    id: String,
    secret: Option<String>,
}

/// Registers an app through the admin API.
async fn register(app: &TestApp, body: Value) -> App {
    let email = format!("root-{}@example.com", crate::helpers::unique());
    let admin = sign_in_admin(app, &email).await;
    let response = send(
        app,
        Method::POST,
        "/api/admin/clients",
        &admin.access,
        Some(body),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let made: Value = response.json().await.expect("json");
    App {
        id: made["client_id"].as_str().expect("id").to_owned(),
        secret: made["client_secret"].as_str().map(str::to_owned),
    }
}

async fn confidential(app: &TestApp, first_party: bool) -> App {
    register(
        app,
        json!({"name": "Orders", "redirect_uris": [CALLBACK], "first_party": first_party}),
    )
    .await
}

struct Pkce {
    verifier: String,
    challenge: String,
}

fn pkce(seed: &str) -> Pkce {
    let verifier = format!("{seed:-<8}{}", "v".repeat(40));
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    Pkce {
        verifier,
        challenge,
    }
}

fn query(client_id: &str, pkce: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("scope", "openid email")
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    q.finish()
}

/// The hosted page's call: the user's answer (or none yet) to `query`.
async fn decide(app: &TestApp, user: &Caller, query: &str, decision: Option<&str>) -> Response {
    send(
        app,
        Method::POST,
        "/api/oauth/authorize",
        &user.access,
        Some(json!({"query": query, "decision": decision})),
    )
    .await
}

/// The parameters of a redirect to the app.
fn params(url: &str) -> std::collections::HashMap<String, String> {
    let url = url::Url::parse(url).expect("url");
    url.query_pairs().into_owned().collect()
}

/// A code for `user`, through the hosted page, for an app that needs no consent.
async fn code_for(app: &TestApp, user: &Caller, client: &App, pkce: &Pkce) -> String {
    let response = decide(app, user, &query(&client.id, pkce, &[]), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let next: Value = response.json().await.expect("json");
    let to = next["redirect_to"].as_str().expect("a redirect");
    assert!(to.starts_with(CALLBACK), "{to}");
    let p = params(to);
    assert_eq!(p["state"], "st-1");
    assert_eq!(p["iss"], app.settings.issuer());
    p["code"].clone()
}

async fn token(app: &TestApp, client: &App, form: &[(&str, &str)]) -> Response {
    let mut request = app.client.post(app.url("/token")).form(form);
    match &client.secret {
        Some(secret) => request = request.basic_auth(&client.id, Some(secret)),
        None => {
            let mut with_id = form.to_vec();
            with_id.push(("client_id", &client.id));
            request = app.client.post(app.url("/token")).form(&with_id);
        }
    }
    request.send().await.expect("request")
}

async fn redeem(app: &TestApp, client: &App, code: &str, verifier: &str) -> Response {
    token(
        app,
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier),
        ],
    )
    .await
}

/// Status and RFC 6749 `error` of a token endpoint answer.
async fn oauth_error(response: Response) -> (StatusCode, String) {
    let status = response.status();
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "token endpoint answers are never cached"
    );
    let body: Value = response.json().await.expect("json");
    let error = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{status} {body}"));
    (status, error.to_owned())
}

fn claims(jwt: &str) -> (Value, Value) {
    let mut parts = jwt.split('.');
    let mut part = || {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(parts.next().expect("part"))
                .expect("b64"),
        )
        .expect("json")
    };
    (part(), part())
}

async fn signed_in_tokens(app: &TestApp, user: &Caller, client: &App, seed: &str) -> Value {
    let pkce = pkce(seed);
    let code = code_for(app, user, client, &pkce).await;
    let response = redeem(app, client, &code, &pkce.verifier).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

#[tokio::test]
async fn the_code_flow_gives_an_access_token_a_refresh_token_and_an_rs256_id_token() {
    let app = spawn_app().await;
    let client = confidential(&app, true).await;
    let user = sign_in(&app, "ada@example.com").await;

    let tokens = signed_in_tokens(&app, &user, &client, "flow").await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid email");
    assert!(tokens["refresh_token"].is_string());

    let (header, id) = claims(tokens["id_token"].as_str().expect("id_token"));
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str()),
        (Some("RS256"), Some("JWT"))
    );
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .expect("jwks");
    assert!(
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["kid"] == header["kid"]),
        "the ID token's key is published"
    );
    assert_eq!(id["aud"], client.id.as_str());
    assert_eq!(id["sub"], user.id.as_str());
    assert_eq!(id["iss"], app.settings.issuer());
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["email"], "ada@example.com");
    assert!(id["auth_time"].is_i64() && id["sid"].is_string());

    let (_, access) = claims(tokens["access_token"].as_str().expect("at"));
    assert_eq!(access["client_id"], client.id.as_str());
    assert_eq!(access["scope"], "openid email");
    assert_eq!(access["sid"], id["sid"]);

    let info = app
        .get_bearer("/userinfo", tokens["access_token"].as_str().expect("at"))
        .await;
    assert_eq!(info.status(), StatusCode::OK);
    let info: Value = info.json().await.expect("json");
    assert_eq!(
        info,
        json!({"sub": user.id, "email": "ada@example.com", "email_verified": false})
    );

    // The app's session is in the user's list, named.
    let list: Value = app
        .get_bearer("/auth/sessions", &user.access)
        .await
        .json()
        .await
        .expect("json");
    let apps: Vec<&Value> = list["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["app"] == "Orders")
        .collect();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["id"], id["sid"]);
}

#[tokio::test]
async fn an_apps_access_token_is_refused_by_jwtgates_own_api_and_a_web_token_by_userinfo() {
    let app = spawn_app().await;
    let client = confidential(&app, true).await;
    let user = sign_in(&app, "ada@example.com").await;
    let tokens = signed_in_tokens(&app, &user, &client, "own-api").await;
    let at = tokens["access_token"].as_str().expect("at");

    let (status, code, _) = problem(app.get_bearer("/api/me", at).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (status, code, _) = problem(app.get_bearer("/auth/sessions", at).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );

    let (status, code, _) = problem(app.get_bearer("/userinfo", &user.access).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
}

#[tokio::test]
async fn a_code_is_single_use_and_its_replay_ends_the_session_it_started() {
    let app = spawn_app().await;
    let client = confidential(&app, true).await;
    let user = sign_in(&app, "ada@example.com").await;
    let pkce = pkce("replay");
    let code = code_for(&app, &user, &client, &pkce).await;

    let first = redeem(&app, &client, &code, &pkce.verifier).await;
    assert_eq!(first.status(), StatusCode::OK);
    let tokens: Value = first.json().await.expect("json");
    let again = redeem(&app, &client, &code, &pkce.verifier).await;
    assert_eq!(
        oauth_error(again).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );

    let at = tokens["access_token"].as_str().expect("at");
    assert_eq!(
        app.get_bearer("/userinfo", at).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let refresh = token(
        &app,
        &client,
        &[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().expect("rt"),
            ),
        ],
    )
    .await;
    assert_eq!(
        oauth_error(refresh).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}

#[tokio::test]
async fn two_redemptions_of_one_code_at_once_leave_no_live_session() {
    let app = spawn_app().await;
    let client = confidential(&app, true).await;
    let user = sign_in(&app, "ada@example.com").await;
    let pkce = pkce("race");
    let code = code_for(&app, &user, &client, &pkce).await;

    let (a, b) = tokio::join!(
        redeem(&app, &client, &code, &pkce.verifier),
        redeem(&app, &client, &code, &pkce.verifier)
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST]);
    let won: Value = if a.status() == StatusCode::OK { a } else { b }
        .json()
        .await
        .expect("json");
    // The loser saw a replay: the winner's session ended with it.
    let at = won["access_token"].as_str().expect("at");
    assert_eq!(
        app.get_bearer("/userinfo", at).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn pkce_is_required_s256_only_and_a_wrong_verifier_does_not_spend_the_code() {
    let app = spawn_app().await;
    let client = confidential(&app, true).await;
    let user = sign_in(&app, "ada@example.com").await;
    let good = pkce("pkce");

    for (name, q) in [
        (
            "no challenge",
            query(&client.id, &good, &[]).replace("code_challenge=", "x="),
        ),
        (
            "plain",
            query(&client.id, &good, &[])
                .replace("code_challenge_method=S256", "code_challenge_method=plain"),
        ),
    ] {
        let next: Value = decide(&app, &user, &q, None)
            .await
            .json()
            .await
            .expect("json");
        let p = params(next["redirect_to"].as_str().expect(name));
        assert_eq!(p["error"], "invalid_request", "{name}");
        assert_eq!(p["state"], "st-1", "{name}");
        assert!(!p.contains_key("code"), "{name}");
    }

    let code = code_for(&app, &user, &client, &good).await;
    let missing = token(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
    )
    .await;
    assert_eq!(
        oauth_error(missing).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let wrong = redeem(&app, &client, &code, &pkce("other").verifier).await;
    assert_eq!(
        oauth_error(wrong).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    // The code was not spent by the attempts: its holder with the verifier still redeems it.
    assert_eq!(
        redeem(&app, &client, &code, &good.verifier).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_redirect_uri_not_registered_is_never_redirected_to() {
    let app = spawn_app().await;
    let client = confidential(&app, true).await;
    let user = sign_in(&app, "ada@example.com").await;
    let good = pkce("uri");

    let evil = query(&client.id, &good, &[]).replace(
        &url::form_urlencoded::byte_serialize(CALLBACK.as_bytes()).collect::<String>(),
        "https%3A%2F%2Fevil.example%2Fcb",
    );
    let response = app.get(&format!("/authorize?{evil}")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.starts_with("/#/oauth-error?error=invalid_redirect_uri"),
        "{location}"
    );
    let (status, code, _) = problem(decide(&app, &user, &evil, None).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_redirect_uri")
    );

    let unknown = query("no-such-app", &good, &[]);
    let response = app.get(&format!("/authorize?{unknown}")).await;
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.starts_with("/#/oauth-error?error=invalid_client"),
        "{location}"
    );

    // A valid request goes on to the hosted page with its query as it came.
    let valid = query(&client.id, &good, &[]);
    let response = app.get(&format!("/authorize?{valid}")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        format!("/#/authorize?{valid}").as_str()
    );

    // At the token endpoint the redirect URI must be the authorization request's.
    let code = code_for(&app, &user, &client, &good).await;
    let other = token(
        &app,
        &client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/other"),
            ("code_verifier", &good.verifier),
        ],
    )
    .await;
    assert_eq!(
        oauth_error(other).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
}

#[tokio::test]
async fn client_authentication_refuses_a_public_client_with_a_secret_and_a_confidential_one_without()
 {
    let app = spawn_app().await;
    let confidential = confidential(&app, true).await;
    let public = register(
        &app,
        json!({"name": "SPA", "kind": "public", "redirect_uris": [CALLBACK], "first_party": true}),
    )
    .await;
    assert!(public.secret.is_none());
    let form = [("grant_type", "refresh_token"), ("refresh_token", "x")];

    let with_secret = app
        .client
        .post(app.url("/token"))
        .basic_auth(&public.id, Some("jgc_guess"))
        .form(&form)
        .send()
        .await
        .expect("request");
    assert_eq!(
        with_secret.headers()["www-authenticate"],
        "Basic realm=\"jwtgate\""
    );
    assert_eq!(
        oauth_error(with_secret).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );

    let mut no_secret = form.to_vec();
    no_secret.push(("client_id", &confidential.id));
    let without = app
        .client
        .post(app.url("/token"))
        .form(&no_secret)
        .send()
        .await
        .expect("request");
    assert_eq!(
        oauth_error(without).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );

    let wrong = app
        .client
        .post(app.url("/token"))
        .basic_auth(&confidential.id, Some("jgc_wrong"))
        .form(&form)
        .send()
        .await
        .expect("request");
    assert_eq!(
        oauth_error(wrong).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );

    let secret = confidential.secret.clone().expect("secret");
    let mut both = form.to_vec();
    both.push(("client_secret", &secret));
    let twice = app
        .client
        .post(app.url("/token"))
        .basic_auth(&confidential.id, Some(&secret))
        .form(&both)
        .send()
        .await
        .expect("request");
    assert_eq!(
        oauth_error(twice).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );

    // client_secret_post works as Basic does; JSON is not the token endpoint's format.
    let mut post = form.to_vec();
    post.push(("client_id", &confidential.id));
    post.push(("client_secret", &secret));
    let posted = app
        .client
        .post(app.url("/token"))
        .form(&post)
        .send()
        .await
        .expect("request");
    assert_eq!(
        oauth_error(posted).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let json_body = app
        .client
        .post(app.url("/token"))
        .basic_auth(&confidential.id, Some(&secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("request");
    assert_eq!(
        oauth_error(json_body).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );

    let password = token(&app, &confidential, &[("grant_type", "password")]).await;
    assert_eq!(
        oauth_error(password).await,
        (StatusCode::BAD_REQUEST, "unsupported_grant_type".into())
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_per_client_and_a_reused_one_ends_the_apps_session() {
    let app = spawn_app().await;
    let client = confidential(&app, true).await;
    let user = sign_in(&app, "ada@example.com").await;
    let first = signed_in_tokens(&app, &user, &client, "rotate").await;
    let rt = first["refresh_token"].as_str().expect("rt").to_owned();

    // Neither door takes the other's refresh tokens.
    let (status, code, _) = problem(app.refresh(&rt).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_refresh_token")
    );
    let web = token(
        &app,
        &client,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &user.refresh),
        ],
    )
    .await;
    assert_eq!(
        oauth_error(web).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );

    let rotated = token(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.expect("json");
    let next = rotated["refresh_token"].as_str().expect("rt").to_owned();
    assert_ne!(next, rt);
    assert_eq!(rotated["scope"], "openid email");
    let (_, access) = claims(rotated["access_token"].as_str().expect("at"));
    assert_eq!(access["client_id"], client.id.as_str());

    // Theft: the successor is used, then the spent token comes back after the grace window.
    let used = token(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", &next)],
    )
    .await;
    assert_eq!(used.status(), StatusCode::OK);
    let latest: Value = used.json().await.expect("json");
    app.clock.advance(app.settings.refresh_grace_secs + 1);
    let stolen = token(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(
        oauth_error(stolen).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let at = latest["access_token"].as_str().expect("at");
    assert_eq!(
        app.get_bearer("/userinfo", at).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_app_that_is_not_first_party_asks_once_and_the_user_can_take_it_back() {
    let app = spawn_app().await;
    let client = confidential(&app, false).await;
    let user = sign_in(&app, "ada@example.com").await;
    let good = pkce("consent");
    let q = query(&client.id, &good, &[]);

    let asked: Value = decide(&app, &user, &q, None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(asked["consent"]["client_name"], "Orders");
    assert_eq!(asked["consent"]["scopes"], json!(["openid", "email"]));
    assert_eq!(asked["consent"]["redirect_origin"], "https://app.example");

    let denied: Value = decide(&app, &user, &q, Some("deny"))
        .await
        .json()
        .await
        .expect("json");
    let p = params(denied["redirect_to"].as_str().expect("redirect"));
    assert_eq!(
        (p["error"].as_str(), p["state"].as_str()),
        ("access_denied", "st-1")
    );
    let listed: Value = app
        .get_bearer("/api/me/apps", &user.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed["apps"], json!([]));

    let allowed: Value = decide(&app, &user, &q, Some("allow"))
        .await
        .json()
        .await
        .expect("json");
    let code = params(allowed["redirect_to"].as_str().expect("redirect"))["code"].clone();
    let tokens: Value = redeem(&app, &client, &code, &good.verifier)
        .await
        .json()
        .await
        .expect("json");
    // Remembered: the next request gets its code without asking.
    code_for(&app, &user, &client, &pkce("again")).await;

    let listed: Value = app
        .get_bearer("/api/me/apps", &user.access)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(listed["apps"][0]["client_id"], client.id.as_str());
    assert_eq!(listed["apps"][0]["scopes"], json!(["openid", "email"]));

    let path = format!("/api/me/apps/{}", client.id);
    assert_eq!(
        send(&app, Method::DELETE, &path, &user.access, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (status, code, _) =
        problem(send(&app, Method::DELETE, &path, &user.access, None).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    // Its sessions ended with it, and the next request asks again.
    let at = tokens["access_token"].as_str().expect("at");
    assert_eq!(
        app.get_bearer("/userinfo", at).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let asked: Value = decide(&app, &user, &q, None)
        .await
        .json()
        .await
        .expect("json");
    assert!(asked["consent"].is_object(), "{asked}");
}

#[tokio::test]
async fn client_credentials_gives_a_service_token_whose_subject_is_the_client() {
    let app = spawn_app().await;
    let service = register(
        &app,
        json!({"name": "Billing", "grants": ["client_credentials"]}),
    )
    .await;
    let response = token(&app, &service, &[("grant_type", "client_credentials")]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let (_, access) = claims(body["access_token"].as_str().expect("at"));
    assert_eq!(access["sub"], service.id.as_str());
    assert_eq!(access["client_id"], service.id.as_str());
    assert_eq!(access["aud"], app.settings.audience.as_str());

    // A client without the grant may not use it.
    let web_app = confidential(&app, true).await;
    let refused = token(&app, &web_app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        oauth_error(refused).await,
        (StatusCode::BAD_REQUEST, "unauthorized_client".into())
    );
    // Its token is no key to jwtgate's own API.
    let at = body["access_token"].as_str().expect("at");
    assert_eq!(
        app.get_bearer("/api/me", at).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn introspect(app: &TestApp, client: &App, token: &str) -> Value {
    let response = app
        .client
        .post(app.url("/introspect"))
        .basic_auth(&client.id, client.secret.as_ref())
        .form(&[("token", token)])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

#[tokio::test]
async fn introspection_and_revocation_see_and_end_an_apps_session() {
    let app = spawn_app().await;
    let client = confidential(&app, true).await;
    let user = sign_in(&app, "ada@example.com").await;
    let tokens = signed_in_tokens(&app, &user, &client, "introspect").await;
    let at = tokens["access_token"].as_str().expect("at");
    let rt = tokens["refresh_token"].as_str().expect("rt");

    let seen = introspect(&app, &client, at).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["sub"], user.id.as_str());
    assert_eq!(seen["client_id"], client.id.as_str());
    assert_eq!(seen["scope"], "openid email");
    let seen = introspect(&app, &client, rt).await;
    assert_eq!(
        (seen["active"].as_bool(), seen["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );
    assert_eq!(
        introspect(&app, &client, "garbage").await,
        json!({"active": false})
    );
    // Another app learns nothing of this one's refresh token.
    let other = confidential(&app, true).await;
    assert_eq!(introspect(&app, &other, rt).await, json!({"active": false}));

    let revoked = app
        .client
        .post(app.url("/revoke"))
        .basic_auth(&client.id, client.secret.as_ref())
        .form(&[("token", rt), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .expect("request");
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(
        introspect(&app, &client, rt).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, &client, at).await,
        json!({"active": false})
    );
    assert_eq!(
        app.get_bearer("/userinfo", at).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn rp_initiated_logout_ends_the_apps_session_and_the_jwtgate_sign_in_it_came_from() {
    let app = spawn_app().await;
    let client = confidential(&app, true).await;
    let user = sign_in(&app, "ada@example.com").await;
    let tokens = signed_in_tokens(&app, &user, &client, "logout").await;
    let id_token = tokens["id_token"].as_str().expect("id");

    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", "https://evil.example/")
        .append_pair("state", "bye");
    let refused = app.get(&format!("/end-session?{}", q.finish())).await;
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    assert!(
        refused.headers()["location"]
            .to_str()
            .expect("loc")
            .starts_with("/#/oauth-error?error=invalid_request")
    );
    // Nothing ended.
    assert_eq!(
        app.get_bearer("/api/me", &user.access).await.status(),
        StatusCode::OK
    );

    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", CALLBACK)
        .append_pair("state", "bye");
    let done = app.get(&format!("/end-session?{}", q.finish())).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        done.headers()["location"],
        format!("{CALLBACK}?state=bye").as_str()
    );

    let (status, code, _) = problem(app.refresh(&user.refresh).await).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "signed_out_by_app")
    );
    let rt = tokens["refresh_token"].as_str().expect("rt");
    let refresh = token(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    assert_eq!(
        oauth_error(refresh).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let at = tokens["access_token"].as_str().expect("at");
    assert_eq!(
        app.get_bearer("/userinfo", at).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn removing_an_app_ends_its_sessions_at_once() {
    let app = spawn_app().await;
    let client = confidential(&app, true).await;
    let user = sign_in(&app, "ada@example.com").await;
    let tokens = signed_in_tokens(&app, &user, &client, "remove").await;
    let admin = sign_in_admin(&app, "root2@example.com").await;
    let path = format!("/api/admin/clients/{}", client.id);
    assert_eq!(
        send(&app, Method::DELETE, &path, &admin.access, None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let at = tokens["access_token"].as_str().expect("at");
    assert_eq!(
        app.get_bearer("/userinfo", at).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The user's own jwtgate session is untouched.
    assert_eq!(
        app.get_bearer("/api/me", &user.access).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn discovery_lists_the_provider_as_it_is() {
    let app = spawn_app().await;
    let d: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    let base = app.settings.issuer();
    assert_eq!(d["issuer"], base);
    assert_eq!(d["authorization_endpoint"], format!("{base}/authorize"));
    assert_eq!(d["token_endpoint"], format!("{base}/token"));
    assert_eq!(d["userinfo_endpoint"], format!("{base}/userinfo"));
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["RS256"]));
    assert_eq!(d["subject_types_supported"], json!(["public"]));
    assert!(d.get("registration_endpoint").is_none());
}

#[tokio::test]
async fn a_redemption_that_fails_midway_leaves_the_code_unspent_and_no_session() {
    let app = spawn_app().await;
    let client = confidential(&app, true).await;
    let user = sign_in(&app, "ada@example.com").await;
    let good = pkce("midway");
    let code = code_for(&app, &user, &client, &good).await;
    // The redemption's last write (the app session's first refresh token) fails, as a crash
    // there would: the code's spending and the session's insert go with it.
    let (inject, remove) = if app.store().backend() == "postgres" {
        (
            "CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$; \
             CREATE TRIGGER injected_fault BEFORE INSERT ON refresh_tokens \
             FOR EACH ROW EXECUTE FUNCTION injected_fault()",
            "DROP TRIGGER injected_fault ON refresh_tokens",
        )
    } else {
        (
            "CREATE TRIGGER injected_fault BEFORE INSERT ON refresh_tokens \
             BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            "DROP TRIGGER injected_fault",
        )
    };
    app.store().test_sql(inject).await.expect("trigger");
    let failed = redeem(&app, &client, &code, &good.verifier).await;
    assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let sessions = "SELECT COUNT(*) FROM sessions WHERE client_id <> 'jwtgate'";
    assert_eq!(app.store().test_count(sessions).await.expect("count"), 0);

    app.store().test_sql(remove).await.expect("heal");
    let retried = redeem(&app, &client, &code, &good.verifier).await;
    assert_eq!(
        retried.status(),
        StatusCode::OK,
        "the code was not spent by the failure"
    );
    assert_eq!(app.store().test_count(sessions).await.expect("count"), 1);
}

#[tokio::test]
async fn a_code_whose_jwtgate_sign_in_ended_before_the_exchange_is_refused() {
    let app = spawn_app().await;
    let client = confidential(&app, true).await;
    let user = sign_in(&app, "ada@example.com").await;
    let good = pkce("signed-out");
    let code = code_for(&app, &user, &client, &good).await;
    assert_eq!(
        app.logout(&user.access).await.status(),
        StatusCode::NO_CONTENT
    );

    let refused = redeem(&app, &client, &code, &good.verifier).await;
    assert_eq!(
        oauth_error(refused).await,
        (StatusCode::BAD_REQUEST, "invalid_grant".into())
    );
    let sessions = "SELECT COUNT(*) FROM sessions WHERE client_id <> 'jwtgate'";
    assert_eq!(app.store().test_count(sessions).await.expect("count"), 0);
}
