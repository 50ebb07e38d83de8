//! Owns `EndReason`: why a session ended, one variant per stable wire code that the next
//! refresh on that session answers with (and that clients show their users). Must not import
//! axum or sqlx; the store keeps the code as text.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The user signed out of this session.
    Logout,
    /// The user ended it from another session (the session list, or "sign out others").
    SignedOutElsewhere,
    /// A spent refresh token came back after its successor was used: theft.
    RefreshTokenReused,
    /// Another session changed the password.
    PasswordChanged,
    /// A reset link set a new password.
    PasswordReset,
    DisabledByAdmin,
    SignedOutByAdmin,
    /// A newer sign-in made room: the account had `max_sessions_per_user` live sessions.
    SessionLimit,
    /// The old address undid a change of the sign-in address.
    EmailChangeUndone,
    /// The account was deleted by its holder.
    AccountDeleted,
    /// Idle or absolute lifetime reached.
    SessionExpired,
    /// A code this version does not know (written by another one).
    SessionEnded,
    /// An app's session: its authorization code was presented again (RFC 6749 §4.1.2).
    AuthorizationCodeReused,
    /// An app's session: the app signed the user out (RP-initiated logout, token revocation).
    SignedOutByApp,
    /// An app's session: the user took back the app's access, or the app was removed.
    AppAccessRevoked,
}

impl EndReason {
    /// Every reason, each once.
    pub const ALL: [EndReason; 15] = [
        EndReason::Logout,
        EndReason::SignedOutElsewhere,
        EndReason::RefreshTokenReused,
        EndReason::PasswordChanged,
        EndReason::PasswordReset,
        EndReason::DisabledByAdmin,
        EndReason::SignedOutByAdmin,
        EndReason::SessionLimit,
        EndReason::EmailChangeUndone,
        EndReason::AccountDeleted,
        EndReason::SessionExpired,
        EndReason::SessionEnded,
        EndReason::AuthorizationCodeReused,
        EndReason::SignedOutByApp,
        EndReason::AppAccessRevoked,
    ];

    /// The wire code (and what the store keeps).
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::SignedOutElsewhere => "signed_out_elsewhere",
            EndReason::RefreshTokenReused => "refresh_token_reused",
            EndReason::PasswordChanged => "password_changed",
            EndReason::PasswordReset => "password_reset",
            EndReason::DisabledByAdmin => "disabled_by_admin",
            EndReason::SignedOutByAdmin => "signed_out_by_admin",
            EndReason::SessionLimit => "session_limit",
            EndReason::EmailChangeUndone => "email_change_undone",
            EndReason::AccountDeleted => "account_deleted",
            EndReason::SessionExpired => "session_expired",
            EndReason::SessionEnded => "session_ended",
            EndReason::AuthorizationCodeReused => "authorization_code_reused",
            EndReason::SignedOutByApp => "signed_out_by_app",
            EndReason::AppAccessRevoked => "app_access_revoked",
        }
    }

    /// The reason a stored code names; an unknown one is [`EndReason::SessionEnded`].
    pub fn parse(code: &str) -> EndReason {
        EndReason::ALL
            .into_iter()
            .find(|r| r.as_str() == code)
            .unwrap_or(EndReason::SessionEnded)
    }
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_through_its_code_and_serialises_to_it() {
        for reason in EndReason::ALL {
            assert_eq!(EndReason::parse(reason.as_str()), reason);
            let json = serde_json::to_string(&reason).expect("json");
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
        assert_eq!(
            EndReason::parse("from_a_newer_version"),
            EndReason::SessionEnded
        );
    }
}
