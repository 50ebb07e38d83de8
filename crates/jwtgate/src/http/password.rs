//! Owns the password, address and account routes: `/auth/password/{change,forgot,reset}`,
//! `/auth/email/verify[/resend]`, `/auth/email/change[/confirm|/undo]` and
//! `/auth/account/delete`. Extract -> call `domain::accounts::Accounts` -> map to
//! response. Must not import sqlx.
//!
//! Only these POSTs consume single-use tokens; the links in mails open web-client pages (hash
//! routes), so a GET never spends anything.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::{AcceptedBody, access_cookie};
use super::error::{ApiError, Problem};
use super::extract::{ApiJson, Authenticated, ClientIp, OptionalJson, Transport};
use super::openapi::{AccessToken, Internal, JsonBody};
use crate::domain::accounts::Resent;
use crate::domain::password::Password;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change))
        .routes(routes!(forgot))
        .routes(routes!(reset))
        .routes(routes!(verify_email))
        .routes(routes!(resend))
        .routes(routes!(change_email))
        .routes(routes!(confirm_email_change))
        .routes(routes!(undo_email_change))
        .routes(routes!(delete_account))
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        Json(AcceptedBody {
            status: "check_your_email",
        }),
    )
        .into_response()
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ChangeBody {
    current_password: String,
    /// 8 to 128 characters, and not easy to guess.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

/// The answer to a password change: this session's new access token (the change cut off every
/// earlier one), in the body for Bearer callers, in the access cookie for the cookie transport.
#[derive(Serialize, utoipa::ToSchema)]
struct ChangedBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    token_type: &'static str,
    expires_in: i64,
}

/// 200 with the new access token; 400 `wrong_password` when the current password is wrong
/// (not 401: the caller's token is fine, and a 401 would make clients refresh or sign out);
/// 422 `weak_password`.
#[utoipa::path(
    post,
    operation_id = "change_password",
    path = "/auth/password/change",
    tag = "account",
    request_body = ChangeBody,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 200, description = "Changed; this session's new access token (in the body, or the cookie)", body = ChangedBody),
        JsonBody,
        AccessToken,
        Internal,
        (status = 400, description = "`wrong_password`, `invalid_request` (a token without a session), `invalid_json`, `bad_request`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`weak_password`, `missing_field`, `invalid_field`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`: too many wrong current passwords in this session", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 503, description = "`server_busy` or `revocation_view_stale`", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn change(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Authenticated {
        claims, transport, ..
    }: Authenticated,
    ApiJson(body): ApiJson<ChangeBody>,
) -> Result<Response, ApiError> {
    let sid = session_of(&claims)?;
    let (access_token, expires_in) = state
        .accounts
        .change_password(
            &claims.sub,
            sid,
            Password::new(body.current_password),
            Password::new(body.new_password),
            &ip,
        )
        .await?;
    Ok(match transport {
        Transport::Bearer => Json(ChangedBody {
            access_token: Some(access_token),
            token_type: "Bearer",
            expires_in,
        })
        .into_response(),
        Transport::Cookie => {
            let cookie = access_cookie(&state, &access_token, expires_in)
                .ok_or_else(|| ApiError::internal("token not valid in a cookie"))?;
            let mut response = Json(ChangedBody {
                access_token: None,
                token_type: "cookie",
                expires_in,
            })
            .into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ForgotBody {
    email: String,
}

/// Always 202, at once: the work (and any mail) happens in the background.
#[utoipa::path(
    post,
    operation_id = "forgot_password",
    path = "/auth/password/forgot",
    tag = "account",
    request_body = ForgotBody,
    responses(
        (status = 202, description = "`check_your_email`, whether or not the address has an account", body = AcceptedBody),
        JsonBody,
    ),
)]
async fn forgot(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<ForgotBody>,
) -> Response {
    state.accounts.forgot_password(body.email, ip);
    accepted()
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ResetBody {
    token: String,
    /// 8 to 128 characters, and not easy to guess.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

/// 204 and every session ended; 400 `token_used` / `token_expired` / `invalid_token`.
#[utoipa::path(
    post,
    operation_id = "reset_password",
    path = "/auth/password/reset",
    tag = "account",
    request_body = ResetBody,
    responses(
        (status = 204, description = "Reset; every session ended"),
        JsonBody,
        Internal,
        (status = 400, description = "`token_used`, `token_expired`, `invalid_link`, `invalid_json`, `bad_request`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`weak_password`, `missing_field`, `invalid_field`", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`server_busy`", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = i64, description = "Seconds to wait"))),
    ),
)]
async fn reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<ResetBody>,
) -> Result<Response, ApiError> {
    state
        .accounts
        .reset_password(&body.token, Password::new(body.new_password), &ip)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct VerifyBody {
    token: String,
}

/// 204; 400 `token_used` / `token_expired` / `invalid_token`.
#[utoipa::path(
    post,
    path = "/auth/email/verify",
    tag = "account",
    request_body = VerifyBody,
    responses(
        (status = 204, description = "The address is confirmed"),
        JsonBody,
        Internal,
        (status = 400, description = "`token_used`, `token_expired`, `invalid_link`, `invalid_json`, `bad_request`", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn verify_email(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Response, ApiError> {
    state.accounts.verify_email(&body.token, &ip).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ResendBody {
    /// Only without a session (a signed-in resend mails the caller's own address).
    email: Option<String>,
}

/// The answer to a signed-in user's resend: what happened, and when another may go.
#[derive(Serialize, utoipa::ToSchema)]
struct ResentBody {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_in_secs: Option<i64>,
}

/// Signed in: 202 `{status: "sent" | "held" | "already_verified", next_in_secs}` (the
/// account's holder may know its own mail ration). Not signed in, with `{email}`: always 202
/// `{status: "check_your_email"}`, rationed like forgot-password.
#[utoipa::path(
    post,
    operation_id = "resend_verification",
    path = "/auth/email/verify/resend",
    tag = "account",
    request_body(content = Option<ResendBody>, description = "`{email}` when not signed in"),
    security(("bearer" = []), ("cookie" = [], "csrf" = []), ()),
    responses(
        (status = 202, description = "Signed in: `sent`, `held` or `already_verified`, with `next_in_secs`; not: `check_your_email`", body = ResentBody),
        JsonBody,
        AccessToken,
        Internal,
    ),
)]
async fn resend(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: Option<Authenticated>,
    OptionalJson(body): OptionalJson<ResendBody>,
) -> Result<Response, ApiError> {
    let Some(Authenticated { claims, .. }) = caller else {
        let Some(email) = body.and_then(|b| b.email) else {
            return Err(ApiError::unauthorized(
                "missing_credentials",
                "sign in, or send {\"email\": ...} to have the link mailed again",
                false,
            ));
        };
        state.accounts.resend_verification_to(email, ip);
        return Ok(accepted());
    };
    let (status, next_in_secs) = match state.accounts.resend_verification(&claims.sub, &ip).await? {
        Resent::Sent { next_in_secs } => ("sent", Some(next_in_secs)),
        Resent::Held { next_in_secs } => ("held", Some(next_in_secs)),
        Resent::AlreadyVerified => ("already_verified", None),
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(ResentBody {
            status,
            next_in_secs,
        }),
    )
        .into_response())
}

/// The session a signed-in request speaks for (every token jwtgate issues has one).
fn session_of(claims: &jwtgate_verify::Claims) -> Result<&str, ApiError> {
    claims
        .sid
        .as_deref()
        .ok_or_else(|| ApiError::invalid_request("this token is not tied to a session"))
}

#[derive(Deserialize, utoipa::ToSchema)]
struct ChangeEmailBody {
    new_email: String,
    password: String,
}

/// 202: a confirm link went to the new address (nothing changes until it is used); 400
/// `wrong_password`, 422 `invalid_email`, 409 `email_taken` (verification mode off).
#[utoipa::path(
    post,
    path = "/auth/email/change",
    tag = "account",
    request_body = ChangeEmailBody,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 202, description = "`check_your_email`: a confirm link went to the new address", body = AcceptedBody),
        JsonBody,
        AccessToken,
        Internal,
        (status = 400, description = "`wrong_password`, `invalid_request`, `invalid_json`, `bad_request`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`invalid_email`, `missing_field`, `invalid_field`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`: too many wrong passwords in this session", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 503, description = "`server_busy` or `revocation_view_stale`", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn change_email(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Authenticated { claims, .. }: Authenticated,
    ApiJson(body): ApiJson<ChangeEmailBody>,
) -> Result<Response, ApiError> {
    state
        .accounts
        .change_email(
            &claims.sub,
            session_of(&claims)?,
            Password::new(body.password),
            &body.new_email,
            &ip,
        )
        .await?;
    Ok(accepted())
}

/// 204: the new address is the sign-in address; 400 `token_used` / `token_expired` /
/// `invalid_link`; 409 `email_taken` if someone took it meanwhile.
#[utoipa::path(
    post,
    path = "/auth/email/change/confirm",
    tag = "account",
    request_body = VerifyBody,
    responses(
        (status = 204, description = "The new address is the sign-in address"),
        JsonBody,
        Internal,
        (status = 400, description = "`token_used`, `token_expired`, `invalid_link`, `invalid_json`, `bad_request`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn confirm_email_change(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Response, ApiError> {
    state
        .accounts
        .confirm_email_change(&body.token, &ip)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// 204: the old address is back, every session ended, a reset link mailed to it.
#[utoipa::path(
    post,
    path = "/auth/email/change/undo",
    tag = "account",
    request_body = VerifyBody,
    responses(
        (status = 204, description = "The old address is back; every session ended"),
        JsonBody,
        Internal,
        (status = 400, description = "`token_used`, `token_expired`, `invalid_link`, `invalid_json`, `bad_request`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn undo_email_change(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Response, ApiError> {
    state.accounts.undo_email_change(&body.token, &ip).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
struct DeleteBody {
    password: String,
}

/// 204 and the cookies cleared: the account is gone; 400 `wrong_password`; 409 `last_admin`.
#[utoipa::path(
    post,
    path = "/auth/account/delete",
    tag = "account",
    request_body = DeleteBody,
    security(("bearer" = []), ("cookie" = [], "csrf" = [])),
    responses(
        (status = 204, description = "The account is gone"),
        JsonBody,
        AccessToken,
        Internal,
        (status = 400, description = "`wrong_password`, `invalid_request`, `invalid_json`, `bad_request`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: the account is already gone", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_attempts`: too many wrong passwords in this session", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 503, description = "`server_busy` or `revocation_view_stale`", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn delete_account(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Authenticated { claims, .. }: Authenticated,
    ApiJson(body): ApiJson<DeleteBody>,
) -> Result<Response, ApiError> {
    state
        .accounts
        .delete_account(
            &claims.sub,
            session_of(&claims)?,
            Password::new(body.password),
            &ip,
        )
        .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    for clear in super::cookies::clearing_cookies() {
        response.headers_mut().append(header::SET_COOKIE, clear);
    }
    Ok(response)
}
