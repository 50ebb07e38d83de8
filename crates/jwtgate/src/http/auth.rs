//! Owns the `/auth/*` routes: register, login, refresh, logout, csrf, and the two transports
//! (JSON body, or cookies + CSRF header). Extract -> call `domain::Auth` -> map to response.
//! Must not import sqlx.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::cookies::{ACCESS_COOKIE, DEVICE_COOKIE, REFRESH_COOKIE, clearing_cookies};
use super::error::{ApiError, Problem};
use super::extract::{
    ApiJson, Authenticated, ClientIp, OptionalJson, cookie, csrf_header, user_agent,
};
use super::openapi::{AccessToken, Internal, JsonBody};
use crate::config::SameSite;
use crate::domain::accounts::Registered;
use crate::domain::core::CLIENT_ID;
use crate::domain::error::AuthError;
use crate::domain::password::Password;
use crate::domain::sessions::{Csrf, Issued, LoginRequest, LogoutScope, User};
use crate::domain::tokens::{DEVICE_TOKEN_TTL, RefreshToken};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(csrf))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RegisterBody {
    email: String,
    /// 8 to 128 characters, and not easy to guess (zxcvbn score 3 or more).
    #[schema(min_length = 8, max_length = 128)]
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct UserBody {
    user: User,
}

/// `{"status": "check_your_email"}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AcceptedBody {
    pub(super) status: &'static str,
}

/// 201 with the user; with `require_email_verification` on, always 202
/// `{"status":"check_your_email"}` (the address is never confirmed to exist).
#[utoipa::path(
    post,
    path = "/auth/register",
    tag = "auth",
    request_body = RegisterBody,
    responses(
        (status = 201, description = "The account (email verification off)", body = UserBody),
        (status = 202, description = "`check_your_email` (email verification on)", body = AcceptedBody),
        JsonBody,
        Internal,
        (status = 409, description = "`email_taken` (email verification off)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_email`, `weak_password`, `missing_field` or `invalid_field`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`server_busy`: too many password hashes in progress", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Response, ApiError> {
    match state
        .accounts
        .register(&body.email, Password::new(body.password), &ip)
        .await?
    {
        Registered::Created(user) => {
            Ok((StatusCode::CREATED, Json(UserBody { user })).into_response())
        }
        Registered::Accepted => Ok((
            StatusCode::ACCEPTED,
            Json(AcceptedBody {
                status: "check_your_email",
            }),
        )
            .into_response()),
    }
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum TransportChoice {
    #[default]
    Body,
    Cookie,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct LoginBody {
    email: String,
    password: String,
    /// `body` (tokens in the answer) or `cookie` (HttpOnly cookies and a CSRF token).
    #[serde(default)]
    transport: TransportChoice,
    /// The device token of an earlier sign-in (API clients; browsers send the device cookie).
    device_token: Option<String>,
}

/// RFC 6749 §5.1 token response (body transport).
#[derive(Serialize, utoipa::ToSchema)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
    /// After a sign-in: keep it and send it with the next sign-in of this account.
    #[serde(skip_serializing_if = "Option::is_none")]
    device_token: Option<String>,
    user: User,
}

/// Cookie transport: no token in the body, only what the page script needs.
#[derive(Serialize, utoipa::ToSchema)]
struct CookieResponse {
    token_type: &'static str,
    expires_in: i64,
    csrf_token: String,
    user: User,
}

fn same_site(state: &AppState) -> &'static str {
    match state.settings.cookie_same_site {
        SameSite::Strict => "Strict",
        SameSite::Lax => "Lax",
    }
}

fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    same_site: &str,
) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; Secure; SameSite={same_site}; Path={path}; Max-Age={max_age}"
    ))
    .ok()
}

/// The `Set-Cookie` of an access token for the cookie transport.
pub(super) fn access_cookie(state: &AppState, token: &str, max_age: i64) -> Option<HeaderValue> {
    set_cookie(ACCESS_COOKIE, token, "/", max_age, same_site(state))
}

fn clear_cookies(headers: &mut HeaderMap) {
    for clear in clearing_cookies() {
        headers.append(header::SET_COOKIE, clear);
    }
}

fn respond(
    state: &AppState,
    issued: Issued,
    transport: TransportChoice,
) -> Result<Response, ApiError> {
    match transport {
        TransportChoice::Body => Ok(Json(TokenResponse {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: issued.refresh_token.expose().to_owned(),
            device_token: issued.device_token,
            user: issued.user,
        })
        .into_response()),
        TransportChoice::Cookie => {
            let access = access_cookie(state, &issued.access_token, issued.expires_in);
            let refresh = set_cookie(
                REFRESH_COOKIE,
                issued.refresh_token.expose(),
                "/",
                issued.refresh_max_age,
                same_site(state),
            );
            let (Some(access), Some(refresh)) = (access, refresh) else {
                return Err(ApiError::internal("token not valid in a cookie"));
            };
            let mut response = Json(CookieResponse {
                token_type: "cookie",
                expires_in: issued.expires_in,
                csrf_token: issued.csrf_token,
                user: issued.user,
            })
            .into_response();
            let headers = response.headers_mut();
            headers.append(header::SET_COOKIE, access);
            headers.append(header::SET_COOKIE, refresh);
            if let Some(device) = issued.device_token.as_deref().and_then(|token| {
                set_cookie(
                    DEVICE_COOKIE,
                    token,
                    "/",
                    DEVICE_TOKEN_TTL,
                    same_site(state),
                )
            }) {
                headers.append(header::SET_COOKIE, device);
            }
            // An older version's `__Secure-` refresh cookie would linger beside the new one.
            let [_, _, legacy] = clearing_cookies();
            headers.append(header::SET_COOKIE, legacy);
            Ok(response)
        }
    }
}

/// Login CSRF: a cross-site page must not sign the browser into an account of the attacker's
/// choosing. The JSON content type already needs a CORS preflight cross-site; on top, a cookie
/// sign-in whose `Origin` is neither this server's nor one of `cors_origins`, or that the
/// browser marks `Sec-Fetch-Site: cross-site` (from no listed origin), is refused. Requests
/// without either header (curl, server-side clients) pass: they have no ambient cookies to
/// abuse.
fn allowed_origin(headers: &HeaderMap, public_url: &str, cors_origins: &[String]) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if origin.is_some_and(|o| cors_origins.iter().any(|allowed| allowed == o)) {
        return true;
    }
    let fetch_site = headers.get("sec-fetch-site").map(HeaderValue::as_bytes);
    if fetch_site == Some(b"cross-site") {
        return false;
    }
    let Some(origin) = origin else {
        return true;
    };
    let authority = |url: &str| {
        url.split_once("://").map(|(_, rest)| {
            rest.split('/')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let origin = authority(origin);
    origin.is_some() && (origin == host || origin == authority(public_url))
}

/// Signs in: tokens in the body, or cookies (`"transport": "cookie"`).
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in: the token response (body transport) or the cookie transport's answer (`Set-Cookie`)", body = inline(SignedIn)),
        JsonBody,
        Internal,
        (status = 401, description = "`invalid_credentials`", body = Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"jwtgate\"`"))),
        (status = 403, description = "`account_disabled`, `email_not_verified`, or `origin_not_allowed` (a cookie sign-in from another site)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts` (failed logins of the account, address or device) or `too_many_sign_ins`", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 503, description = "`server_busy`: too many logins in progress", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = i64, description = "Seconds to wait"))),
    ),
)]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response, ApiError> {
    if body.transport == TransportChoice::Cookie
        && !allowed_origin(
            &headers,
            &state.settings.effective_public_url(),
            &state.settings.cors_origins,
        )
    {
        return Err(ApiError::client(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "a cookie sign-in must come from this server's own pages",
        ));
    }
    let ua = user_agent(&headers);
    // A device cookie sent twice is as good as none: it can only lose this sign-in its own
    // throttle, never block it.
    let device_cookie = cookie(&headers, DEVICE_COOKIE).ok().flatten();
    let issued = state
        .sessions
        .login(LoginRequest {
            email: &body.email,
            password: Password::new(body.password),
            ip: &ip,
            user_agent: ua.as_deref(),
            device_token: body.device_token.as_deref().or(device_cookie),
        })
        .await?;
    respond(&state, issued, body.transport)
}

/// The answer of a sign-in or a refresh, by transport.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[expect(dead_code, reason = "the contract's union of the two answers")]
enum SignedIn {
    Body(TokenResponse),
    Cookie(CookieResponse),
}

#[derive(Deserialize, utoipa::ToSchema)]
struct RefreshBody {
    refresh_token: Option<String>,
}

/// The refresh credential of a request: body (no CSRF) or cookie (CSRF required), never both.
fn refresh_credential(
    headers: &HeaderMap,
    body: Option<RefreshBody>,
) -> Result<Option<(RefreshToken, TransportChoice)>, ApiError> {
    let from_body = body.and_then(|b| b.refresh_token).filter(|t| !t.is_empty());
    let from_cookie = cookie(headers, REFRESH_COOKIE)?;
    match (from_body, from_cookie) {
        (Some(_), Some(_)) => Err(ApiError::invalid_request(
            "send the refresh token in the body or the cookie, not both",
        )),
        (Some(t), None) => Ok(Some((RefreshToken::new(t), TransportChoice::Body))),
        (None, Some(c)) => Ok(Some((
            RefreshToken::new(c.to_owned()),
            TransportChoice::Cookie,
        ))),
        (None, None) => Ok(None),
    }
}

fn csrf_for(transport: TransportChoice, headers: &HeaderMap) -> Csrf<'_> {
    match transport {
        TransportChoice::Body => Csrf::NotRequired,
        TransportChoice::Cookie => Csrf::Required(csrf_header(headers)),
    }
}

/// A new access token and a rotated refresh token, from the body's `refresh_token` or the
/// refresh cookie (with the CSRF header).
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    request_body(content = Option<RefreshBody>, description = "Empty with the refresh cookie"),
    responses(
        (status = 200, description = "The new tokens (as the sign-in's transport)", body = inline(SignedIn)),
        JsonBody,
        Internal,
        (status = 400, description = "`invalid_request` (the token in the body and the cookie), `invalid_json`, `bad_request`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`missing_credentials`, `invalid_refresh_token`, `duplicate_cookie`, or why the session ended (`logout`, `refresh_token_reused`, `password_changed`, `session_expired`...)", body = Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"jwtgate\"`..."))),
        (status = 403, description = "`csrf_failed` (cookie without the CSRF header), `account_disabled`", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<RefreshBody>,
) -> Result<Response, ApiError> {
    let Some((token, transport)) = refresh_credential(&headers, body)? else {
        return Err(ApiError::unauthorized(
            "missing_credentials",
            "send {\"refresh_token\": ...} or the refresh cookie",
            false,
        ));
    };
    match state
        .sessions
        .refresh(&token, csrf_for(transport, &headers), CLIENT_ID)
        .await
    {
        Ok(issued) => respond(&state, issued, transport),
        Err(e) => {
            let mut response = ApiError::from(e).into_response();
            // A dead cookie session is cleared so the browser stops sending it.
            if transport == TransportChoice::Cookie && response.status() == StatusCode::UNAUTHORIZED
            {
                clear_cookies(response.headers_mut());
            }
            Ok(response)
        }
    }
}

#[derive(Deserialize, Default, Clone, Copy, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum ScopeChoice {
    #[default]
    Current,
    Others,
    All,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct LogoutBody {
    refresh_token: Option<String>,
    /// `current` (the default), `others` or `all`.
    #[serde(default)]
    scope: ScopeChoice,
}

/// Ends the caller's session (`scope` `current`, the default), every other one (`others`) or
/// all of them (`all`). The credential is the access token, or the refresh token alone.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    request_body(content = Option<LogoutBody>, description = "Optional"),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ()),
    responses(
        (status = 204, description = "Signed out (cookies cleared unless `others`)"),
        JsonBody,
        AccessToken,
        Internal,
        (status = 401, description = "`missing_credentials`, `invalid_token`, `invalid_refresh_token`, `duplicate_cookie`, or why the session ended", body = Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"jwtgate\"`..."))),
    ),
)]
async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Result<Option<Authenticated>, ApiError>,
    headers: HeaderMap,
    OptionalJson(body): OptionalJson<LogoutBody>,
) -> Result<Response, ApiError> {
    let scope = match body.as_ref().map(|b| b.scope).unwrap_or_default() {
        ScopeChoice::Current => LogoutScope::Current,
        ScopeChoice::Others => LogoutScope::Others,
        ScopeChoice::All => LogoutScope::All,
    };
    let body = body.map(|b| RefreshBody {
        refresh_token: b.refresh_token,
    });
    let refresh = refresh_credential(&headers, body)?;
    match (caller, refresh) {
        (Ok(Some(Authenticated { claims, .. })), _) => {
            let Some(sid) = claims.sid.as_deref() else {
                return Err(ApiError::invalid_request(
                    "this token is not tied to a session",
                ));
            };
            state.sessions.logout(&claims.sub, sid, scope, &ip).await?;
        }
        // A refused access token (revoked by a role change, expired) must not stand between a
        // browser and signing out: the refresh credential alone speaks for the session.
        (Ok(None) | Err(_), Some((token, transport))) => {
            state
                .sessions
                .logout_with_refresh(&token, csrf_for(transport, &headers), scope, &ip)
                .await?;
        }
        (Err(refused), None) => return Err(refused),
        (Ok(None), None) => {
            return Err(ApiError::unauthorized(
                "missing_credentials",
                "send the access token (or the refresh token) of the session to end",
                false,
            ));
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    // `others` keeps this session: its cookies stay.
    if scope != LogoutScope::Others {
        clear_cookies(response.headers_mut());
    }
    Ok(response)
}

#[derive(Serialize, utoipa::ToSchema)]
struct CsrfBody {
    csrf_token: String,
}

/// The CSRF token of the cookie session (after a page reload the script no longer has it).
/// A refused access cookie is no obstacle: the refresh cookie alone names the session.
#[utoipa::path(
    get,
    operation_id = "csrf_token",
    path = "/auth/csrf",
    tag = "auth",
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The session's CSRF token", body = CsrfBody),
        AccessToken,
        Internal,
        (status = 401, description = "`missing_credentials`, `invalid_token`, `invalid_refresh_token`, `duplicate_cookie`, or why the session ended", body = Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"jwtgate\"`..."))),
    ),
)]
async fn csrf(
    State(state): State<AppState>,
    caller: Result<Option<Authenticated>, ApiError>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let sid = match caller {
        Ok(Some(caller)) => caller.claims.sid.clone(),
        refused_or_none => match cookie(&headers, REFRESH_COOKIE)? {
            Some(rt) => {
                match state
                    .sessions
                    .active_session_for_refresh(&RefreshToken::new(rt.to_owned()))
                    .await
                {
                    Ok(sid) => sid,
                    // Why it ended, and the dead cookies cleared, as a refresh would.
                    Err(e @ AuthError::SessionEnded(_)) => {
                        let mut response = ApiError::from(e).into_response();
                        clear_cookies(response.headers_mut());
                        return Ok(response);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            None => {
                refused_or_none?;
                None
            }
        },
    };
    let Some(sid) = sid else {
        return Err(ApiError::unauthorized(
            "missing_credentials",
            "log in with \"transport\": \"cookie\" first",
            false,
        ));
    };
    Ok(Json(CsrfBody {
        csrf_token: state.core.csrf_token(&sid),
    })
    .into_response())
}
