//! The OpenAPI contract at `/openapi.json`: public, OpenAPI 3.1, every route of the router in it
//! with exactly its methods, and real answers shaped as it says. (schemathesis fuzzes it against
//! a live server in `scripts/contract`.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, problem, spawn_app};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

async fn contract(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.expect("json")
}

/// Path template -> documented methods.
fn documented(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (*m).to_owned())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// The routes the server's source registers: every `#[utoipa::path(METHOD, path = "...")]`
/// (what `utoipa_axum::routes!` hands the router) and every literal `.route("...")`. The only
/// registrations that are not `routes!` live in `web.rs` (the web client's files) and
/// `metrics.rs` (the metrics listener's own router, never on the public one).
fn registered() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut routes: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("src/http") {
        let path = entry.expect("entry").path();
        let source = std::fs::read_to_string(&path).expect("source");
        let file = path.file_name().and_then(|n| n.to_str()).expect("name");
        for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            if file != "web.rs" && file != "metrics.rs" {
                assert!(
                    !source.contains(call),
                    "{file} registers a route with `{call}`: use `routes!` so it is documented"
                );
            }
        }
        for attribute in source.split("#[utoipa::path(").skip(1) {
            let method = attribute
                .split(|c: char| c == ',' || c.is_whitespace())
                .find(|word| !word.is_empty())
                .expect("method");
            let path = attribute
                .split_once("path = \"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(path, _)| path)
                .expect("path");
            routes
                .entry(path.to_owned())
                .or_default()
                .insert(method.to_owned());
        }
    }
    routes
}

#[tokio::test]
async fn the_contract_is_public_openapi_3_1_with_unique_operation_ids() {
    let app = spawn_app().await;
    let doc = contract(&app).await;
    assert!(
        doc["openapi"].as_str().expect("version").starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    for scheme in ["bearer", "cookie", "csrf", "feed"] {
        assert!(schemes.contains_key(scheme), "{scheme}");
    }
    assert_eq!(schemes["cookie"]["in"], "cookie");
    assert_eq!(schemes["cookie"]["name"], "__Host-jwtgate_at");
    assert_eq!(schemes["csrf"]["name"], "X-CSRF-Token");
    // OpenAPI requires each operation's id to be unique (clients name their methods by it).
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for method in METHODS {
            if let Some(id) = item[method]["operationId"].as_str() {
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            }
        }
    }
}

#[tokio::test]
async fn every_route_the_source_registers_is_in_the_contract_with_its_methods() {
    let app = spawn_app().await;
    let doc = documented(&contract(&app).await);
    let source = registered();
    assert!(source.len() > 30, "found only {} routes", source.len());
    assert_eq!(doc, source);
    for prefix in ["/auth/", "/api/", "/revocations", "/.well-known/"] {
        assert!(doc.keys().any(|p| p.starts_with(prefix)), "{prefix}");
    }
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        assert!(doc.contains_key(path), "{path}");
    }
}

/// Asked of the live server: each documented path answers its documented methods (never the
/// router's "no such endpoint" nor 405) and refuses every other method with 405.
#[tokio::test]
async fn the_server_answers_exactly_the_documented_methods_of_each_path() {
    let app = spawn_app().await;
    let doc = documented(&contract(&app).await);
    for (template, methods) in &doc {
        let path = template.replace("{id}", "x").replace("{kid}", "x");
        for method in METHODS {
            let response = app
                .client
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                    app.url(&path),
                )
                .send()
                .await
                .expect("request");
            let status = response.status();
            if methods.contains(method) {
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                if status == StatusCode::NOT_FOUND {
                    let (_, _, body) = problem(response).await;
                    assert_ne!(body["detail"], "no such endpoint", "{method} {path}");
                }
            } else {
                let (status, code, _) = problem(response).await;
                assert_eq!(
                    (status, code.as_str()),
                    (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
                    "{method} {path}"
                );
            }
        }
    }
}

/// Whether `value` is what `schema` (a subset of JSON Schema: `$ref`, `type`, `required`,
/// `properties`, `items`, `oneOf`, `enum`) allows; the reason where it is not.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return conforms(doc, &doc["components"]["schemas"][name], value, at);
    }
    if let Some(branches) = schema["oneOf"].as_array() {
        let matching = branches
            .iter()
            .filter(|b| conforms(doc, b, value, at).is_ok())
            .count();
        return (matching == 1)
            .then_some(())
            .ok_or(format!("{at}: {matching} branches of oneOf match"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let fits = types.is_empty()
        || types.contains(&kind)
        || (kind == "integer" && types.contains(&"number"));
    if !fits {
        return Err(format!("{at}: a {kind}, not {types:?}"));
    }
    for field in schema["required"].as_array().into_iter().flatten() {
        let field = field.as_str().expect("name");
        if value.get(field).is_none() {
            return Err(format!("{at}: `{field}` is missing"));
        }
    }
    if let (Some(properties), Some(object)) = (schema["properties"].as_object(), value.as_object())
    {
        for (name, member) in object {
            if let Some(property) = properties.get(name) {
                conforms(doc, property, member, &format!("{at}.{name}"))?;
            }
        }
    }
    if let Some(items) = value.as_array() {
        for (i, item) in items.iter().enumerate() {
            conforms(doc, &schema["items"], item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Checks an answer against what the contract documents for it: its status is listed, with its
/// content type, and the body fits the schema.
async fn check(doc: &Value, method: &str, path: &str, response: reqwest::Response) -> Value {
    let status = response.status().as_u16().to_string();
    let documented = &doc["paths"][path][method]["responses"][&status];
    assert!(
        documented.is_object(),
        "{method} {path} answered {status}, which the contract does not list"
    );
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = response.json().await.expect("json");
    let schema = &documented["content"][&content_type]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {status}: {content_type} is not documented"
    );
    if let Err(why) = conforms(doc, schema, &body, "body") {
        panic!("{method} {path} {status}: {why}\n{body}");
    }
    body
}

#[tokio::test]
async fn real_answers_fit_the_schemas_the_contract_gives_them() {
    let app = spawn_app().await;
    let doc = contract(&app).await;

    let registered = app.register("ada@example.com").await;
    check(&doc, "post", "/auth/register", registered).await;
    let signed_in = app.login("ada@example.com", crate::helpers::PASSWORD).await;
    let tokens = check(&doc, "post", "/auth/login", signed_in).await;
    let token = tokens["access_token"].as_str().expect("token");

    let cookie = app
        .post_json(
            "/auth/login",
            &json!({"email": "ada@example.com", "password": crate::helpers::PASSWORD,
                    "transport": "cookie"}),
        )
        .await;
    check(&doc, "post", "/auth/login", cookie).await;

    for path in ["/api/me", "/auth/sessions", "/auth/activity", "/api/todos"] {
        check(&doc, "get", path, app.get_bearer(path, token).await).await;
    }
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/healthz",
        "/readyz",
    ] {
        check(&doc, "get", path, app.get(path).await).await;
    }

    // Problems: unauthenticated, wrong password, a body of the wrong shape.
    let refused = check(&doc, "get", "/api/me", app.get("/api/me").await).await;
    assert_eq!(refused["code"], "missing_credentials");
    let wrong = check(
        &doc,
        "post",
        "/auth/login",
        app.login("ada@example.com", "not the password").await,
    )
    .await;
    assert_eq!(wrong["code"], "invalid_credentials");
    let shapeless = check(
        &doc,
        "post",
        "/auth/register",
        app.post_json("/auth/register", &json!({"email": 1})).await,
    )
    .await;
    assert_eq!(shapeless["code"], "invalid_field");
}

/// The refusals `scripts/contract` turns off to keep fuzzing (the plan limit, the login
/// lockout) answer as the contract says, `Retry-After` included.
#[tokio::test]
async fn the_plan_limit_and_the_login_lockout_answer_as_documented() {
    let limits = "free=1,pro=600".parse().expect("rate limits");
    let app = crate::helpers::spawn_app_with(|s| s.rate_limits = limits).await;
    let doc = contract(&app).await;
    let token = app.signed_in("ada@example.com").await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        app.get_bearer("/api/me", &token).await.status(),
        StatusCode::OK
    );
    let limited = app.get_bearer("/api/me", &token).await;
    assert!(limited.headers().contains_key("retry-after"));
    let refused = check(&doc, "get", "/api/me", limited).await;
    assert_eq!(refused["code"], "rate_limited");
    let documented = &doc["paths"]["/api/me"]["get"]["responses"]["429"]["headers"];
    assert!(documented["Retry-After"].is_object(), "{documented}");

    let mut last = None;
    for _ in 0..app.settings.login_free_attempts_account + 1 {
        last = Some(app.login("ada@example.com", "not the password").await);
    }
    let locked = last.expect("an answer");
    assert!(locked.headers().contains_key("retry-after"));
    let refused = check(&doc, "post", "/auth/login", locked).await;
    assert_eq!(refused["code"], "too_many_attempts");
}
