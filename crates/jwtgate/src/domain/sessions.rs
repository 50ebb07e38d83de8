//! Owns the user's view of their sessions: the session list (with device labels), revoking one
//! session, logout scopes, and ending every session of a user for a reason (password change and
//! reset here; disabling and role changes in the admin API). Must not import axum or sqlx.
//!
//! Every path ends sessions through `Auth::end_session`, which revokes the session's access
//! tokens in the revocation view before it writes: an ended session's tokens stop at once.
//!
//! End reasons (the `code` of the next refresh on that session): `logout`,
//! `signed_out_elsewhere`, `refresh_token_reused`, `password_changed`, `password_reset`,
//! `disabled_by_admin`, `roles_changed`, `session_expired` (idle or absolute lifetime).

use serde::Serialize;

use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::auth::{Auth, AuthError, Csrf};
use crate::domain::device;
use crate::domain::tokens::RefreshToken;
use crate::store::EndSessions;

/// Why a session ended: the stable codes clients show to users.
pub mod reason {
    pub const LOGOUT: &str = "logout";
    pub const SIGNED_OUT_ELSEWHERE: &str = "signed_out_elsewhere";
    pub const REFRESH_TOKEN_REUSED: &str = "refresh_token_reused";
    pub const PASSWORD_CHANGED: &str = "password_changed";
    pub const PASSWORD_RESET: &str = "password_reset";
    pub const DISABLED_BY_ADMIN: &str = "disabled_by_admin";
    pub const SIGNED_OUT_BY_ADMIN: &str = "signed_out_by_admin";
    pub const ROLES_CHANGED: &str = "roles_changed";
    /// The old address undid a change of the sign-in address.
    pub const EMAIL_CHANGE_UNDONE: &str = "email_change_undone";
    /// The account was deleted by its holder.
    pub const ACCOUNT_DELETED: &str = "account_deleted";
    /// A newer sign-in made room: the account had `max_sessions_per_user` live sessions.
    pub const SESSION_LIMIT: &str = "session_limit";
    /// Idle or absolute lifetime reached (the core's code for both).
    pub const SESSION_EXPIRED: &str = "session_expired";
}

/// One line of the session list.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: String,
    pub device: String,
    pub ip: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub current: bool,
}

/// Which sessions `POST /auth/logout` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogoutScope {
    /// The caller's session only.
    #[default]
    Current,
    /// Every session of the caller except this one.
    Others,
    /// Every session of the caller.
    All,
}

impl Auth {
    /// The user's live sessions, most recently used first.
    pub async fn list_sessions(
        &self,
        user_id: &str,
        current: Option<&str>,
    ) -> Result<Vec<SessionView>, AuthError> {
        let rows = self
            .store
            .live_sessions_of(user_id, self.clock.now())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| SessionView {
                current: current == Some(r.id.as_str()),
                device: device::label(r.user_agent.as_deref()),
                id: r.id,
                ip: r.ip,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
            })
            .collect())
    }

    /// Ends one of the caller's own sessions. Another user's (or an unknown, or an already
    /// ended) session is `NotFound`: ids of other people's sessions are not confirmed.
    pub async fn revoke_own_session(
        &self,
        user_id: &str,
        session_id: &str,
        current: Option<&str>,
        ip: &str,
    ) -> Result<(), AuthError> {
        if !self
            .store
            .is_unended_session_of(session_id, user_id)
            .await?
        {
            return Err(AuthError::NotFound);
        }
        let why = if current == Some(session_id) {
            reason::LOGOUT
        } else {
            reason::SIGNED_OUT_ELSEWHERE
        };
        self.end_session(session_id, why).await?;
        self.audit()
            .record(AuditEvent {
                actor: Some(user_id),
                subject: Some(user_id),
                ip: Some(ip),
                event: "session_revoked",
                outcome: Outcome::Success,
                detail: Some(format!("session {session_id} ({why})")),
            })
            .await;
        Ok(())
    }

    /// Ends every unended session of `user_id` except `keep`, each with `why`, revoking their
    /// access tokens at once; with `cut_off`, every token of the user issued so far is refused
    /// too (sessions that already expired or ended have tokens of their own). Returns how many
    /// sessions ended.
    pub async fn end_sessions_of_user(
        &self,
        user_id: &str,
        keep: Option<&str>,
        why: &str,
        cut_off: bool,
    ) -> Result<usize, AuthError> {
        let cutoff = cut_off.then(|| self.cutoff_now());
        let end = EndSessions {
            user_id,
            keep,
            now: self.clock.now(),
            reason: why,
        };
        let ended = self.store.end_user_sessions(&end, cutoff).await?;
        if let Some(cutoff) = cutoff {
            self.revoke_user(user_id, cutoff);
        }
        self.revoke_sessions(&ended);
        Ok(ended.len())
    }

    /// Logout of `scope` for the caller whose current session is `current`.
    pub async fn logout_scope(
        &self,
        user_id: &str,
        current: &str,
        scope: LogoutScope,
        ip: &str,
    ) -> Result<(), AuthError> {
        match scope {
            LogoutScope::Current => self.end_session(current, reason::LOGOUT).await?,
            LogoutScope::Others => {
                self.end_sessions_of_user(
                    user_id,
                    Some(current),
                    reason::SIGNED_OUT_ELSEWHERE,
                    false,
                )
                .await?;
            }
            // Everywhere means every token too, those of sessions that expired on their own.
            LogoutScope::All => {
                self.end_sessions_of_user(
                    user_id,
                    Some(current),
                    reason::SIGNED_OUT_ELSEWHERE,
                    true,
                )
                .await?;
                self.end_session(current, reason::LOGOUT).await?;
            }
        }
        let detail = match scope {
            LogoutScope::Current => "scope current",
            LogoutScope::Others => "scope others",
            LogoutScope::All => "scope all",
        };
        tracing::info!(user_id = %user_id, session_id = %current, scope = detail, "logout");
        self.audit()
            .record(AuditEvent {
                actor: Some(user_id),
                subject: Some(user_id),
                ip: Some(ip),
                event: "logout",
                outcome: Outcome::Success,
                detail: Some(detail.to_owned()),
            })
            .await;
        Ok(())
    }

    /// Logout by refresh token (no access token presented): checks CSRF for the cookie transport,
    /// then ends `scope`. An already ended session is a no-op success for `current`.
    pub async fn logout_with_refresh_scope(
        &self,
        presented: &RefreshToken,
        csrf: Csrf<'_>,
        scope: LogoutScope,
        ip: &str,
    ) -> Result<(), AuthError> {
        let Some(found) = self.store.find_refresh(&presented.hash()).await? else {
            return Err(AuthError::InvalidRefreshToken);
        };
        self.check_csrf(&found.session.id, csrf)?;
        // A spent token speaks for no one: whoever holds it is replaying it (the live chain has
        // moved on), so it is theft, never a logout, and it chooses no scope.
        if found.session.ended_at.is_none() && found.spent_at.is_some() {
            return Err(self.reused(&found.session).await);
        }
        if found.session.ended_at.is_some() {
            if scope == LogoutScope::Current {
                return Ok(());
            }
            // An ended session cannot speak for the others.
            let reason = found
                .session
                .end_reason
                .unwrap_or_else(|| "session_ended".into());
            return Err(AuthError::SessionEnded(reason));
        }
        self.logout_scope(&found.session.user_id, &found.session.id, scope, ip)
            .await
    }
}
