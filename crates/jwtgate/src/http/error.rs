//! Owns `ApiError`, the one HTTP error type: client-safe 4xx variants with a stable snake_case
//! `code`, and an opaque 5xx carrying a request id (the cause goes to the log, never the body).
//! Rendered as RFC 9457 `application/problem+json`. Every 401 carries `WWW-Authenticate`.
//! Must not import sqlx.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use jwtgate_verify::axum::{AuthRejection, InvalidRequest, RejectionKind, problem_title};

use crate::domain::AuthError;

#[derive(Debug)]
pub enum ApiError {
    /// A 4xx with a stable code and a human detail.
    Client {
        status: StatusCode,
        code: &'static str,
        detail: String,
    },
    /// 401. `token_presented` adds `error="invalid_token"` to `WWW-Authenticate` (RFC 6750 §3.1).
    Unauthorized {
        code: String,
        detail: String,
        token_presented: bool,
    },
    /// 429 or 503 with `Retry-After`.
    RetryLater {
        status: StatusCode,
        code: &'static str,
        detail: String,
        retry_after_secs: i64,
    },
    /// 422 `invalid_field`, naming the field in a `field` member as well as in the detail.
    InvalidField { field: &'static str, detail: String },
    /// 401: an auth cookie came twice (planted, or sent by a confused client). Both are cleared
    /// in the answer, so the browser can sign in again cleanly.
    DuplicateCookie,
    /// 500: the body carries only the request id.
    Internal { request_id: String },
    /// A refusal by `jwtgate-verify`'s extractor, rendered by the library itself so the server
    /// and every service using the library answer byte for byte alike.
    Auth(AuthRejection),
}

impl From<AuthRejection> for ApiError {
    fn from(rejection: AuthRejection) -> Self {
        if *rejection.kind() == RejectionKind::InvalidRequest(InvalidRequest::DuplicateCookie) {
            return Self::DuplicateCookie;
        }
        // Which check failed is for the log only; clients all get invalid_token (RFC 9068 §4).
        tracing::debug!(reason = rejection.kind().reason(), "access token refused");
        Self::Auth(rejection)
    }
}

/// An error answer (RFC 9457), `application/problem+json`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct Problem<'a> {
    /// `https://jwtgate.dev/problems/{code}`.
    #[serde(rename = "type")]
    kind: String,
    /// One title per `code`.
    title: &'a str,
    /// The HTTP status, repeated.
    status: u16,
    /// The stable, machine-readable reason: what a client branches on.
    code: &'a str,
    /// For a person; may change.
    detail: &'a str,
    /// The field at fault (`invalid_field`).
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// The id to quote when reporting a 500 (also in `X-Request-Id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

impl ApiError {
    pub fn client(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self::Client {
            status,
            code,
            detail: detail.into(),
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::client(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::bad_request("invalid_request", detail)
    }

    pub fn unauthorized(
        code: impl Into<String>,
        detail: impl Into<String>,
        token_presented: bool,
    ) -> Self {
        Self::Unauthorized {
            code: code.into(),
            detail: detail.into(),
            token_presented,
        }
    }

    pub fn csrf_failed() -> Self {
        Self::client(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "cookie-authenticated requests that change state must send the X-CSRF-Token header",
        )
    }

    /// The problem for a bare `status` that some layer or foreign extractor answered with, so
    /// that no error leaves the server in another shape (see `http::problem_only`).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, detail) = match status {
            StatusCode::BAD_REQUEST => ("bad_request", "the request is malformed"),
            StatusCode::NOT_FOUND => ("not_found", "no such endpoint"),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "this endpoint does not accept that method",
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "request_timeout",
                "the request did not arrive in time; the connection is closed",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "send the body as application/json",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => ("invalid_field", "the request body is not valid"),
            s if s.is_server_error() => return Self::internal(format!("a layer answered {s}")),
            _ => ("client_error", "the request was refused"),
        };
        Self::client(status, code, detail)
    }

    /// Logs `cause` under the request's id (the one its answer carries in `X-Request-Id`) and
    /// returns the opaque 500.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let request_id = super::edge::REQUEST_ID
            .try_with(|id| id.to_string())
            .unwrap_or_else(|_| crate::domain::tokens::random_id());
        tracing::error!(%request_id, error = %cause, "internal error");
        Self::Internal { request_id }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        use AuthError as E;
        match e {
            E::InvalidEmail(m) => {
                Self::client(StatusCode::UNPROCESSABLE_ENTITY, "invalid_email", m)
            }
            E::WeakPassword(m) => {
                Self::client(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", m)
            }
            E::EmailTaken => Self::client(
                StatusCode::CONFLICT,
                "email_taken",
                "an account with this email already exists",
            ),
            E::InvalidCredentials => {
                Self::unauthorized("invalid_credentials", "email or password is wrong", false)
            }
            E::Throttled(t) => {
                use crate::shared::throttle::Limit;
                let (what, which) = match t.limit {
                    Limit::Account => ("failed logins", "account"),
                    Limit::Ip => ("failed logins", "ip"),
                    Limit::Device => ("failed logins", "device"),
                    Limit::Session => ("wrong current passwords", "session"),
                };
                Self::RetryLater {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: "too_many_attempts",
                    detail: format!(
                        "too many {what} for this {which}; the {which} limit resets in {} seconds",
                        t.retry_after_secs
                    ),
                    retry_after_secs: t.retry_after_secs,
                }
            }
            E::Busy => Self::RetryLater {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "server_busy",
                detail: "too many logins in progress; retry shortly".into(),
                retry_after_secs: 1,
            },
            E::TooManySignIns => Self::RetryLater {
                status: StatusCode::TOO_MANY_REQUESTS,
                code: "too_many_sign_ins",
                detail:
                    "this account has signed in too often in the last minute; retry in a minute"
                        .into(),
                retry_after_secs: 60,
            },
            E::InvalidRefreshToken => Self::unauthorized(
                "invalid_refresh_token",
                "the refresh token is unknown",
                true,
            ),
            E::SessionEnded(reason) => Self::unauthorized(
                reason.as_str(),
                format!("the session has ended ({reason}); log in again"),
                true,
            ),
            E::CsrfFailed => Self::csrf_failed(),
            E::AccountDisabled => Self::client(
                StatusCode::FORBIDDEN,
                "account_disabled",
                "this account has been disabled by an administrator",
            ),
            E::EmailNotVerified => Self::client(
                StatusCode::FORBIDDEN,
                "email_not_verified",
                "confirm your email address first: open the link we sent (or ask for a new one)",
            ),
            E::WrongPassword => {
                Self::bad_request("wrong_password", "the current password is wrong")
            }
            E::NotFound => Self::client(StatusCode::NOT_FOUND, "not_found", "no such resource"),
            E::TokenUsed => Self::bad_request(
                "token_used",
                "this link has already been used; ask for a new one",
            ),
            E::TokenExpired => {
                Self::bad_request("token_expired", "this link has expired; ask for a new one")
            }
            E::InvalidToken => Self::bad_request(
                "invalid_link",
                "this link is not valid; check that it was copied whole",
            ),
            E::LastAdmin => Self::client(
                StatusCode::CONFLICT,
                "last_admin",
                "this would leave no enabled administrator; make someone else an administrator first",
            ),
            E::Internal(cause) => Self::internal(cause),
        }
    }
}

/// Why a session ended: the codes a refresh (or a request on the session) answers with.
pub const END_REASONS: &[&str] = &[
    "logout",
    "signed_out_elsewhere",
    "refresh_token_reused",
    "password_changed",
    "password_reset",
    "disabled_by_admin",
    "signed_out_by_admin",
    "session_limit",
    "email_change_undone",
    "account_deleted",
    "session_expired",
    "session_ended",
    "authorization_code_reused",
    "signed_out_by_app",
    "app_access_revoked",
];

/// The `title` of a problem `code`: one `type` always has one title, written for that code.
/// The codes `jwtgate-verify` answers with keep the library's titles.
fn title(code: &str, status: StatusCode) -> &'static str {
    if let Some(title) = problem_title(code) {
        return title;
    }
    match code {
        "invalid_email" => "Invalid email address",
        "weak_password" => "Password too weak",
        "email_taken" => "Email address already registered",
        "invalid_credentials" => "Wrong email or password",
        "too_many_attempts" => "Too many failed attempts",
        "too_many_sign_ins" => "Too many sign-ins",
        "server_busy" => "Server busy",
        "rate_limited" => "Rate limit reached",
        "invalid_refresh_token" => "Invalid refresh token",
        "csrf_failed" => "CSRF check failed",
        "account_disabled" => "Account disabled",
        "email_not_verified" => "Email address not confirmed",
        "wrong_password" => "Wrong current password",
        "not_found" => "Not found",
        "token_used" => "Link already used",
        "token_expired" => "Link expired",
        "invalid_link" => "Invalid link",
        "invalid_client" => "Unknown app",
        "invalid_redirect_uri" => "Redirect address not registered",
        "internal_error" => "Internal error",
        "duplicate_cookie" => "Sign-in cookie sent twice",
        "bad_request" => "Bad request",
        "invalid_json" => "Invalid JSON",
        "missing_field" => "Missing field",
        "invalid_field" => "Invalid field",
        "payload_too_large" => "Request body too large",
        "unsupported_media_type" => "Unsupported media type",
        "invalid_path" => "Invalid path",
        "invalid_query" => "Invalid query",
        "request_timeout" => "Request timeout",
        "method_not_allowed" => "Method not allowed",
        "cannot_modify_self" => "Cannot change your own account that way",
        "last_admin" => "Last administrator",
        "origin_not_allowed" => "Origin not allowed",
        "not_ready" => "Not ready",
        code if END_REASONS.contains(&code) => "Session ended",
        _ => status.canonical_reason().unwrap_or("Error"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, detail, request_id, retry, www) = match &self {
            ApiError::Auth(rejection) => return rejection.clone().into_response(),
            ApiError::DuplicateCookie => (
                StatusCode::UNAUTHORIZED,
                "duplicate_cookie",
                "a sign-in cookie arrived twice, so neither was trusted; both are cleared: sign in again",
                None,
                None,
                Some("Bearer realm=\"jwtgate\""),
            ),
            ApiError::InvalidField { detail, .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                detail.as_str(),
                None,
                None,
                None,
            ),
            ApiError::Client {
                status,
                code,
                detail,
            } => (*status, *code, detail.as_str(), None, None, None),
            ApiError::Unauthorized {
                code,
                detail,
                token_presented,
            } => (
                StatusCode::UNAUTHORIZED,
                code.as_str(),
                detail.as_str(),
                None,
                None,
                Some(if *token_presented {
                    "Bearer realm=\"jwtgate\", error=\"invalid_token\""
                } else {
                    "Bearer realm=\"jwtgate\""
                }),
            ),
            ApiError::RetryLater {
                status,
                code,
                detail,
                retry_after_secs,
            } => (
                *status,
                *code,
                detail.as_str(),
                None,
                Some(*retry_after_secs),
                None,
            ),
            ApiError::Internal { request_id } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "an internal error occurred; quote the request id when reporting it",
                Some(request_id.as_str()),
                None,
                None,
            ),
        };
        let problem = Problem {
            kind: format!("https://jwtgate.dev/problems/{code}"),
            title: title(code, status),
            status: status.as_u16(),
            code,
            detail,
            field: match &self {
                ApiError::InvalidField { field, .. } => Some(*field),
                _ => None,
            },
            request_id,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(www) = www {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(www));
        }
        if let Some(secs) = retry {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if matches!(self, ApiError::DuplicateCookie) {
            for clear in super::cookies::clearing_cookies() {
                headers.append(header::SET_COOKIE, clear);
            }
        }
        if let ApiError::RetryLater { code, .. } = &self {
            // A refusal: the edge middleware may hold it for an address that keeps coming back.
            response.extensions_mut().insert(Refused(code));
        }
        response
    }
}

/// Marks a response as a refusal to come back later (429, 503 `server_busy`): what the
/// refusal tarpit (`shared::tarpit`) counts, with its problem code (what the metrics count).
#[derive(Debug, Clone, Copy)]
pub struct Refused(pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_title_of_its_own_not_its_status_line() {
        for code in [
            "invalid_email",
            "weak_password",
            "email_taken",
            "invalid_credentials",
            "too_many_attempts",
            "too_many_sign_ins",
            "server_busy",
            "rate_limited",
            "invalid_refresh_token",
            "csrf_failed",
            "account_disabled",
            "email_not_verified",
            "wrong_password",
            "not_found",
            "token_used",
            "token_expired",
            "invalid_link",
            "internal_error",
            "duplicate_cookie",
            "bad_request",
            "invalid_json",
            "missing_field",
            "invalid_field",
            "payload_too_large",
            "unsupported_media_type",
            "invalid_path",
            "invalid_query",
            "request_timeout",
            "method_not_allowed",
            "cannot_modify_self",
            "last_admin",
            "origin_not_allowed",
            "not_ready",
        ] {
            let fallback = title("no_such_code", StatusCode::IM_A_TEAPOT);
            assert_ne!(title(code, StatusCode::IM_A_TEAPOT), fallback, "{code}");
        }
        for reason in END_REASONS {
            assert_eq!(title(reason, StatusCode::UNAUTHORIZED), "Session ended");
        }
        // The list is spelled out for the web client's test, which reads it from this file;
        // it must be exactly the domain's reasons.
        let domain: Vec<&str> = crate::domain::reason::EndReason::ALL
            .iter()
            .map(|r| r.as_str())
            .collect();
        assert_eq!(END_REASONS, domain.as_slice());
        // The library's codes keep the library's titles.
        assert_eq!(
            title("invalid_token", StatusCode::UNAUTHORIZED),
            "Invalid access token"
        );
        assert_eq!(
            title("invalid_request", StatusCode::BAD_REQUEST),
            "Malformed or ambiguous credentials"
        );
    }
}
