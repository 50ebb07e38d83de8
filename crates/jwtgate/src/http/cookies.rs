//! Owns the names of the cookie transport's cookies and the `Set-Cookie` values that clear
//! them. Must not import the domain or sqlx.

use axum::http::HeaderValue;

/// The access token of the cookie transport.
pub const ACCESS_COOKIE: &str = "__Host-jwtgate_at";
/// `__Host-`, not `__Secure-`: a browser takes a `__Host-` cookie only from this very host
/// (no `Domain`, `Path=/`), so a sibling subdomain cannot plant one, neither to block refresh
/// with a duplicate nor to sign the browser into the attacker's account.
pub const REFRESH_COOKIE: &str = "__Host-jwtgate_rt";
/// The device token of the cookie transport (OWASP's device cookie): kept across sign-outs, it
/// lets a browser that signed in to an account before be throttled apart from anonymous
/// attempts.
pub const DEVICE_COOKIE: &str = "__Host-jwtgate_device";

/// `Set-Cookie` values that clear every cookie of the cookie transport, the refresh cookie of
/// earlier versions (`__Secure-`, `Path=/auth`) included. Clearing needs the name, path and
/// `Secure`, not the `SameSite` they were set with.
pub fn clearing_cookies() -> [HeaderValue; 3] {
    [
        HeaderValue::from_static("__Host-jwtgate_at=; HttpOnly; Secure; Path=/; Max-Age=0"),
        HeaderValue::from_static("__Host-jwtgate_rt=; HttpOnly; Secure; Path=/; Max-Age=0"),
        HeaderValue::from_static("__Secure-jwtgate_rt=; HttpOnly; Secure; Path=/auth; Max-Age=0"),
    ]
}
