//! Owns the password, address and account routes: `/auth/password/{change,forgot,reset}`,
//! `/auth/email/verify[/resend]`, `/auth/email/change[/confirm|/undo]` and
//! `/auth/account/delete`. Extract -> call `domain::accounts::Accounts` -> map to
//! response. Must not import sqlx.
//!
//! Only these POSTs consume single-use tokens; the links in mails open web-client pages (hash
//! routes), so a GET never spends anything.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::access_cookie;
use super::error::ApiError;
use super::extract::{ApiJson, Authenticated, ClientIp, OptionalJson, Transport};
use crate::domain::accounts::Resent;
use crate::domain::password::Password;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/password/change", post(change))
        .route("/auth/password/forgot", post(forgot))
        .route("/auth/password/reset", post(reset))
        .route("/auth/email/verify", post(verify_email))
        .route("/auth/email/verify/resend", post(resend))
        .route("/auth/email/change", post(change_email))
        .route("/auth/email/change/confirm", post(confirm_email_change))
        .route("/auth/email/change/undo", post(undo_email_change))
        .route("/auth/account/delete", post(delete_account))
}

#[derive(Serialize)]
struct AcceptedBody {
    status: &'static str,
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

#[derive(Deserialize)]
struct ChangeBody {
    current_password: String,
    new_password: String,
}

/// The answer to a password change: this session's new access token (the change cut off every
/// earlier one), in the body for Bearer callers, in the access cookie for the cookie transport.
#[derive(Serialize)]
struct ChangedBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    token_type: &'static str,
    expires_in: i64,
}

/// 200 with the new access token; 400 `wrong_password` when the current password is wrong
/// (not 401: the caller's token is fine, and a 401 would make clients refresh or sign out);
/// 422 `weak_password`.
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

#[derive(Deserialize)]
struct ForgotBody {
    email: String,
}

/// Always 202, at once: the work (and any mail) happens in the background.
async fn forgot(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<ForgotBody>,
) -> Response {
    state.accounts.forgot_password(body.email, ip);
    accepted()
}

#[derive(Deserialize)]
struct ResetBody {
    token: String,
    new_password: String,
}

/// 204 and every session ended; 400 `token_used` / `token_expired` / `invalid_token`.
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

#[derive(Deserialize)]
struct VerifyBody {
    token: String,
}

/// 204; 400 `token_used` / `token_expired` / `invalid_token`.
async fn verify_email(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Response, ApiError> {
    state.accounts.verify_email(&body.token, &ip).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct ResendBody {
    /// Only without a session (a signed-in resend mails the caller's own address).
    email: Option<String>,
}

/// The answer to a signed-in user's resend: what happened, and when another may go.
#[derive(Serialize)]
struct ResentBody {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_in_secs: Option<i64>,
}

/// Signed in: 202 `{status: "sent" | "held" | "already_verified", next_in_secs}` (the
/// account's holder may know its own mail ration). Not signed in, with `{email}`: always 202
/// `{status: "check_your_email"}`, rationed like forgot-password.
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

#[derive(Deserialize)]
struct ChangeEmailBody {
    new_email: String,
    password: String,
}

/// 202: a confirm link went to the new address (nothing changes until it is used); 400
/// `wrong_password`, 422 `invalid_email`, 409 `email_taken` (verification mode off).
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
async fn undo_email_change(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(body): ApiJson<VerifyBody>,
) -> Result<Response, ApiError> {
    state.accounts.undo_email_change(&body.token, &ip).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct DeleteBody {
    password: String,
}

/// 204 and the cookies cleared: the account is gone; 400 `wrong_password`; 409 `last_admin`.
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
