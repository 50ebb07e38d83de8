//! Owns the browser client: the files of `web/` embedded in the binary at build time and served at
//! `/` with a strict Content-Security-Policy. Static bytes only: no templating, no state, no
//! domain or store access. Must not import sqlx or the domain.
//!
//! The page is a hash-routed single page (`/#/profile`), so only `/` and the assets exist here;
//! every other path keeps the API's problem+json 404.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

/// No inline script or style, nothing from another origin, no framing: an injected `<script>` or
/// `onclick=` does not run, and the page cannot be clickjacked.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    base-uri 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Every served file: URL path, content type, bytes. Adding a page module means adding a line.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("/", HTML, include_bytes!("../../../../web/index.html")),
    ("/app.css", CSS, include_bytes!("../../../../web/app.css")),
    (
        "/js/app.js",
        JS,
        include_bytes!("../../../../web/js/app.js"),
    ),
    (
        "/js/api.js",
        JS,
        include_bytes!("../../../../web/js/api.js"),
    ),
    (
        "/js/session.js",
        JS,
        include_bytes!("../../../../web/js/session.js"),
    ),
    (
        "/js/dom.js",
        JS,
        include_bytes!("../../../../web/js/dom.js"),
    ),
    (
        "/js/claims.js",
        JS,
        include_bytes!("../../../../web/js/claims.js"),
    ),
    (
        "/js/events.js",
        JS,
        include_bytes!("../../../../web/js/events.js"),
    ),
    (
        "/js/messages.js",
        JS,
        include_bytes!("../../../../web/js/messages.js"),
    ),
    (
        "/js/dialog.js",
        JS,
        include_bytes!("../../../../web/js/dialog.js"),
    ),
    (
        "/js/pages/signin.js",
        JS,
        include_bytes!("../../../../web/js/pages/signin.js"),
    ),
    (
        "/js/pages/register.js",
        JS,
        include_bytes!("../../../../web/js/pages/register.js"),
    ),
    (
        "/js/pages/profile.js",
        JS,
        include_bytes!("../../../../web/js/pages/profile.js"),
    ),
    (
        "/js/pages/link-token.js",
        JS,
        include_bytes!("../../../../web/js/pages/link-token.js"),
    ),
    (
        "/js/pages/resend-link.js",
        JS,
        include_bytes!("../../../../web/js/pages/resend-link.js"),
    ),
    (
        "/js/pages/forgot-password.js",
        JS,
        include_bytes!("../../../../web/js/pages/forgot-password.js"),
    ),
    (
        "/js/pages/reset-password.js",
        JS,
        include_bytes!("../../../../web/js/pages/reset-password.js"),
    ),
    (
        "/js/pages/verify-email.js",
        JS,
        include_bytes!("../../../../web/js/pages/verify-email.js"),
    ),
    (
        "/js/pages/sessions.js",
        JS,
        include_bytes!("../../../../web/js/pages/sessions.js"),
    ),
    (
        "/js/pages/password.js",
        JS,
        include_bytes!("../../../../web/js/pages/password.js"),
    ),
    (
        "/js/pages/todos.js",
        JS,
        include_bytes!("../../../../web/js/pages/todos.js"),
    ),
    (
        "/js/pages/activity.js",
        JS,
        include_bytes!("../../../../web/js/pages/activity.js"),
    ),
    (
        "/js/pages/admin.js",
        JS,
        include_bytes!("../../../../web/js/pages/admin.js"),
    ),
    (
        "/js/pages/clients.js",
        JS,
        include_bytes!("../../../../web/js/pages/clients.js"),
    ),
    (
        "/js/pages/authorize.js",
        JS,
        include_bytes!("../../../../web/js/pages/authorize.js"),
    ),
];

pub fn router() -> Router<AppState> {
    ASSETS
        .iter()
        .fold(Router::new(), |router, &(path, content_type, body)| {
            // File names carry no content hash, so browsers revalidate every time (`no-cache`)
            // and the ETag turns that into a 304 when nothing changed.
            let etag = format!("\"{:016x}\"", fnv1a(body));
            router.route(
                path,
                get(move |headers: HeaderMap| async move {
                    serve(&headers, content_type, body, &etag)
                }),
            )
        })
}

fn serve(
    request: &HeaderMap,
    content_type: &'static str,
    body: &'static [u8],
    etag: &str,
) -> Response {
    let not_modified = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
    // `X-Content-Type-Options` and `Referrer-Policy` come from the app-wide middleware.
    response
}

/// FNV-1a: a cheap, stable fingerprint for the ETag (not a security boundary).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::ASSETS;
    use std::path::{Path, PathBuf};

    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read web/") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tests") {
                    files(&path, out);
                }
            } else if path
                .extension()
                .is_some_and(|e| e == "html" || e == "css" || e == "js")
            {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_file_of_the_web_client_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
        let mut found = Vec::new();
        files(&root, &mut found);
        for path in found {
            let relative = path.strip_prefix(&root).expect("under web/");
            let url = match relative.to_str().expect("utf-8") {
                "index.html" => "/".to_owned(),
                other => format!("/{other}"),
            };
            assert!(
                ASSETS.iter().any(|(p, _, _)| *p == url),
                "web/{} is not served: add it to ASSETS",
                relative.display()
            );
        }
    }
}
