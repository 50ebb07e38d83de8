//! Owns `AuthError`, what the domain's services answer when a flow does not go through (the
//! HTTP layer maps each to its status and code). Must not import axum or sqlx.

use crate::domain::password::HashError;
use crate::domain::reason::EndReason;
use crate::shared::throttle::Throttled;
use crate::store::{StoreError, Unique};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    InvalidEmail(String),
    #[error("{0}")]
    WeakPassword(String),
    #[error("email taken")]
    EmailTaken,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("throttled")]
    Throttled(Throttled),
    #[error("hashing pool busy")]
    Busy,
    /// The password was right, but the account has had its sign-ins of the minute.
    #[error("too many sign-ins")]
    TooManySignIns,
    #[error("unknown refresh token")]
    InvalidRefreshToken,
    /// The session is over, and why.
    #[error("session ended: {0}")]
    SessionEnded(EndReason),
    #[error("csrf check failed")]
    CsrfFailed,
    /// The password was right but an administrator has disabled the account.
    #[error("account disabled")]
    AccountDisabled,
    /// Login with the right password, but `require_email_verification` is on and the address
    /// is not verified yet.
    #[error("email not verified")]
    EmailNotVerified,
    /// The current password given to a password change is wrong.
    #[error("wrong password")]
    WrongPassword,
    /// No such resource for this caller (another user's session is "not found", never 403).
    #[error("not found")]
    NotFound,
    /// A single-use email token was used before.
    #[error("token used")]
    TokenUsed,
    /// A single-use email token has expired.
    #[error("token expired")]
    TokenExpired,
    /// Not a valid single-use token of the expected kind.
    #[error("invalid token")]
    InvalidToken,
    /// The change would leave no enabled administrator.
    #[error("last administrator")]
    LastAdmin,
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        match e {
            // Only the address's own constraint means "taken"; any other is a bug of ours.
            StoreError::Conflict(Unique::Email) => AuthError::EmailTaken,
            other => AuthError::Internal(other.to_string()),
        }
    }
}

impl From<HashError> for AuthError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => AuthError::Busy,
            HashError::Internal(m) => AuthError::Internal(m),
        }
    }
}
