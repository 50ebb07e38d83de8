//! The embedded browser client: served at `/` with its assets, a strict CSP and the right types.

use reqwest::StatusCode;

use crate::helpers::spawn_app;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_page_is_served_at_the_root_with_security_headers() {
    let app = spawn_app().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "content-type"),
        "text/html; charset=utf-8"
    );
    assert_eq!(header(&response, "content-security-policy"), CSP);
    assert_eq!(header(&response, "referrer-policy"), "no-referrer");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(header(&response, "cache-control"), "no-cache");
    let body = response.text().await.expect("body");
    assert!(body.contains(r#"<script type="module" src="/js/app.js"></script>"#));
}

#[tokio::test]
async fn the_assets_are_served_with_their_content_types() {
    let app = spawn_app().await;
    for (path, content_type) in [
        ("/app.css", "text/css; charset=utf-8"),
        ("/js/app.js", "text/javascript; charset=utf-8"),
        ("/js/session.js", "text/javascript; charset=utf-8"),
        ("/js/pages/profile.js", "text/javascript; charset=utf-8"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&response, "content-type"), content_type, "{path}");
        assert_eq!(header(&response, "content-security-policy"), CSP, "{path}");
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_page_has_no_inline_script_or_handler() {
    let app = spawn_app().await;
    let body = app.get("/").await.text().await.expect("body");
    assert!(!body.contains("<script>"), "inline script");
    assert!(!body.contains(" onclick="), "inline handler");
    assert!(!body.contains(" style="), "inline style");
}

#[tokio::test]
async fn an_unchanged_asset_revalidates_to_304() {
    let app = spawn_app().await;
    let first = app.get("/js/app.js").await;
    let etag = header(&first, "etag").to_owned();
    assert!(etag.starts_with('"'), "etag {etag:?}");
    let second = app
        .client
        .get(app.url("/js/app.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&second, "etag"), etag);
}

#[tokio::test]
async fn unknown_paths_keep_the_api_404() {
    let app = spawn_app().await;
    let response = app.get("/profile").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        header(&response, "content-type"),
        "application/problem+json"
    );
}
