//! Owns sessions: login (the throttle, the password check, the session and its tokens), refresh
//! rotation with the convergent grace rule and reuse detection, logout scopes, and the user's
//! list of their sessions. Must not import axum or sqlx.
//!
//! Every path that ends sessions goes through `Core`, which revokes their access tokens in this
//! node's revocation view as it writes: an ended session's tokens stop at once.

use std::sync::Arc;

use serde::Serialize;

use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::core::{CLIENT_ID, Core, Recipient};
use crate::domain::device;
use crate::domain::email::Email;
use crate::domain::error::AuthError;
use crate::domain::password::{Password, PasswordHasher, Verified};
use crate::domain::reason::EndReason;
use crate::domain::tokens::{self, RefreshToken};
use crate::metrics::Metrics;
use crate::shared::throttle::{Attempt, LoginThrottle};
use crate::store::{
    CodeRow, Created, NewSession, Redeemed, RefreshLookup, SessionLimits, SessionRow, UserRow,
};

/// How long sessions live and how many an account may have.
#[derive(Debug, Clone)]
pub struct SessionRules {
    pub idle_ttl: i64,
    pub absolute_ttl: i64,
    /// Seconds in which a spent refresh token always gets the same successor.
    pub grace: i64,
    /// Login waits for a verified address.
    pub require_email_verification: bool,
    /// Live sessions per account at most.
    pub max_sessions: u32,
    /// Successful sign-ins per account per minute at most.
    pub sign_ins_per_minute: u32,
}

/// The public view of an account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    pub roles: Vec<String>,
    pub plan: Option<String>,
    pub created_at: i64,
    pub email_verified: bool,
}

impl From<UserRow> for User {
    fn from(u: UserRow) -> Self {
        Self {
            id: u.id,
            email: u.email,
            roles: u.roles,
            plan: u.plan,
            created_at: u.created_at,
            email_verified: u.email_verified,
        }
    }
}

/// What login and refresh hand out.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: RefreshToken,
    /// Seconds until the session's absolute expiry (the refresh cookie's Max-Age).
    pub refresh_max_age: i64,
    pub session_id: String,
    pub csrf_token: String,
    /// A sign-in's fresh device token (see `tokens::device_token`); `None` on refresh.
    pub device_token: Option<String>,
    pub user: User,
    /// The scope an app's session was granted (`None` for the web client's).
    pub scope: Option<String>,
}

/// Whether a request must prove it is same-origin (cookie transport).
#[derive(Debug, Clone, Copy)]
pub enum Csrf<'a> {
    NotRequired,
    Required(Option<&'a str>),
}

#[derive(Debug)]
pub struct LoginRequest<'a> {
    pub email: &'a str,
    pub password: Password,
    pub ip: &'a str,
    pub user_agent: Option<&'a str>,
    /// The device token the client holds from an earlier sign-in, if any.
    pub device_token: Option<&'a str>,
}

/// One line of the session list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    pub id: String,
    pub device: String,
    pub ip: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub current: bool,
    /// The app signed in with this session (`None`: this web client).
    pub app: Option<String>,
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

/// Why `session` ended, if it has.
fn ended(session: &SessionRow) -> Option<EndReason> {
    session
        .ended_at
        .map(|_| EndReason::parse(session.end_reason.as_deref().unwrap_or_default()))
}

#[derive(Debug)]
pub struct Sessions {
    core: Arc<Core>,
    hasher: PasswordHasher,
    throttle: Arc<LoginThrottle>,
    rules: SessionRules,
    metrics: Metrics,
}

/// The metrics' name for how a sign-in or a refresh ended: a fixed set, whatever the error.
fn outcome<T>(result: &Result<T, AuthError>) -> &'static str {
    match result {
        Ok(_) => "success",
        Err(AuthError::InvalidCredentials) => "invalid_credentials",
        Err(AuthError::Throttled(_)) => "throttled",
        Err(AuthError::Busy) => "busy",
        Err(AuthError::TooManySignIns) => "too_many_sign_ins",
        Err(AuthError::AccountDisabled) => "account_disabled",
        Err(AuthError::EmailNotVerified) => "email_not_verified",
        Err(AuthError::InvalidRefreshToken) => "invalid_token",
        Err(AuthError::SessionEnded(EndReason::RefreshTokenReused)) => "reused",
        Err(AuthError::SessionEnded(_)) => "session_ended",
        Err(AuthError::CsrfFailed) => "csrf_failed",
        Err(_) => "error",
    }
}

impl Sessions {
    pub fn new(
        core: Arc<Core>,
        hasher: PasswordHasher,
        throttle: Arc<LoginThrottle>,
        rules: SessionRules,
        metrics: Metrics,
    ) -> Self {
        Self {
            core,
            hasher,
            throttle,
            rules,
            metrics,
        }
    }

    pub async fn login(&self, req: LoginRequest<'_>) -> Result<Issued, AuthError> {
        let result = self.sign_in(req).await;
        self.metrics.sign_in(outcome(&result));
        result
    }

    async fn sign_in(&self, req: LoginRequest<'_>) -> Result<Issued, AuthError> {
        let core = &self.core;
        let store = core.store();
        let now = core.clock().now();
        // Throttle on the normalised form even when it is not a valid address, so the same
        // account cannot be hammered through spelling variants.
        let account = Email::throttle_key(req.email);
        // A device that signed in to this account before is throttled on its own: an attacker
        // holding the account locked for anonymous clients does not lock its owner out.
        let device = req
            .device_token
            .and_then(|t| core.device_nonce(t, &account, now));
        let attempt = match &device {
            Some(nonce) => Attempt::Device(nonce),
            None => Attempt::Anonymous {
                account: &account,
                ip: req.ip,
            },
        };
        self.throttle
            .check(&attempt, now)
            .await
            .map_err(AuthError::Throttled)?;
        // Held until the answer: one address flooding logins fills only its share of the queue.
        let _in_flight = self.throttle.enter(req.ip).ok_or(AuthError::Busy)?;
        let user = match Email::parse(req.email) {
            Ok(email) => store.user_by_email(email.as_str()).await?,
            Err(_) => None,
        };
        // Unknown users are checked against the dummy hash: same work, same answer.
        let verified = self
            .hasher
            .verify(
                &req.password,
                user.as_ref().map(|u| u.password_hash.as_str()),
            )
            .await?;
        let user = match (user, verified) {
            (Some(user), Verified::Yes) => user,
            (Some(user), Verified::YesRehashed(hash)) => {
                if let Err(e) = store.update_password_hash(&user.id, &hash).await {
                    tracing::warn!(user_id = %user.id, error = %e, "could not upgrade password hash");
                }
                user
            }
            (user, _) => {
                self.throttle.record_failure(&attempt, now).await;
                // The subject is the account when it exists; an unknown address creates no id
                // (the detail names it only when it is a well-formed address, never raw input).
                let detail = match &user {
                    Some(_) => "wrong password".to_owned(),
                    None => match Email::parse(req.email) {
                        Ok(e) => format!("unknown account {}", e.as_str()),
                        Err(_) => "unknown account".to_owned(),
                    },
                };
                core.audit()
                    .record(AuditEvent {
                        actor: None,
                        subject: user.as_ref().map(|u| u.id.as_str()),
                        ip: Some(req.ip),
                        event: "login",
                        outcome: Outcome::Failure,
                        detail: Some(detail),
                    })
                    .await;
                return Err(AuthError::InvalidCredentials);
            }
        };
        self.throttle.record_success(&attempt).await;
        // Checked only after a correct password, so the answer reveals nothing to a guesser.
        if store.is_disabled(&user.id).await? {
            return Err(AuthError::AccountDisabled);
        }
        if self.rules.require_email_verification && !user.email_verified {
            let detail = "email not verified".into();
            self.audit_login(&user.id, req.ip, Outcome::Failure, detail)
                .await;
            return Err(AuthError::EmailNotVerified);
        }

        let session_id = tokens::uuid_v4();
        let refresh = tokens::new_refresh_token();
        let absolute = now + self.rules.absolute_ttl;
        let created = store
            .create_session(
                &NewSession {
                    id: &session_id,
                    user_id: &user.id,
                    now,
                    idle_expires_at: (now + self.rules.idle_ttl).min(absolute),
                    absolute_expires_at: absolute,
                    user_agent: req.user_agent,
                    ip: Some(req.ip),
                    refresh_hash: &refresh.hash(),
                    client_id: CLIENT_ID,
                    scope: None,
                    parent_id: None,
                },
                &self.limits(),
            )
            .await?;
        match created {
            Created::Created { ended } => core.revoke_sessions(&ended),
            Created::TooMany => {
                let detail = "too many sign-ins this minute".into();
                self.audit_login(&user.id, req.ip, Outcome::Failure, detail)
                    .await;
                return Err(AuthError::TooManySignIns);
            }
        }
        // An administrator disabled the account while the password was checked: disabling
        // ended the sessions that existed when it committed, which may have been just before
        // this one. Read after this session's commit, so one of the two always sees the other.
        if store.is_disabled(&user.id).await? {
            core.end_session(&session_id, EndReason::DisabledByAdmin)
                .await?;
            return Err(AuthError::SessionEnded(EndReason::DisabledByAdmin));
        }
        tracing::info!(user_id = %user.id, session_id = %session_id, "login");
        let detail = format!("session {session_id}");
        self.audit_login(&user.id, req.ip, Outcome::Success, detail)
            .await;
        let mut issued = self
            .issue(user, session_id, Recipient::WEB, refresh, absolute, now)
            .await?;
        issued.device_token = Some(core.device_token(&account, now));
        Ok(issued)
    }

    /// An app's sign-in: spends the authorization code `code` (hash `code_hash`, already
    /// checked by the provider) and starts the app's session with its first refresh token, in
    /// one transaction, under the account's limits like any sign-in. `None` when the code was
    /// spent or expired meanwhile (a concurrent redemption won).
    pub async fn redeem(
        &self,
        code_hash: &[u8],
        code: &CodeRow,
        ip: &str,
        user_agent: Option<&str>,
    ) -> Result<Option<Issued>, AuthError> {
        let core = &self.core;
        let store = core.store();
        let now = core.clock().now();
        let Some(user) = store.user_by_id(&code.user_id).await? else {
            return Ok(None);
        };
        if store.is_disabled(&user.id).await? {
            return Err(AuthError::AccountDisabled);
        }
        let session_id = tokens::uuid_v4();
        let refresh = tokens::new_refresh_token();
        let absolute = now + self.rules.absolute_ttl;
        let redeemed = store
            .redeem_code(
                code_hash,
                &NewSession {
                    id: &session_id,
                    user_id: &user.id,
                    now,
                    idle_expires_at: (now + self.rules.idle_ttl).min(absolute),
                    absolute_expires_at: absolute,
                    user_agent,
                    ip: Some(ip),
                    refresh_hash: &refresh.hash(),
                    client_id: &code.client_id,
                    scope: Some(&code.scope),
                    parent_id: Some(&code.parent_id),
                },
                &self.limits(),
            )
            .await?;
        match redeemed {
            Redeemed::Created { ended } => core.revoke_sessions(&ended),
            Redeemed::TooMany => return Err(AuthError::TooManySignIns),
            Redeemed::Gone => return Ok(None),
        }
        tracing::info!(user_id = %user.id, session_id = %session_id, client_id = %code.client_id, "app sign-in");
        let to = Recipient {
            client_id: &code.client_id,
            scope: Some(&code.scope),
        };
        self.issue(user, session_id, to, refresh, absolute, now)
            .await
            .map(Some)
    }

    /// What every new session of an account is held to.
    fn limits(&self) -> SessionLimits<'static> {
        SessionLimits {
            live: self.rules.max_sessions,
            per_minute: self.rules.sign_ins_per_minute,
            reason: EndReason::SessionLimit.as_str(),
        }
    }

    /// A sign-in of `user_id` that got past the password, and how it ended.
    async fn audit_login(&self, user_id: &str, ip: &str, outcome: Outcome, detail: String) {
        self.core
            .audit()
            .record(AuditEvent {
                actor: Some(user_id),
                subject: Some(user_id),
                ip: Some(ip),
                event: "login",
                outcome,
                detail: Some(detail),
            })
            .await;
    }

    pub(crate) async fn issue(
        &self,
        mut user: UserRow,
        session_id: String,
        to: Recipient<'_>,
        refresh_token: RefreshToken,
        absolute_expires_at: i64,
        now: i64,
    ) -> Result<Issued, AuthError> {
        let core = &self.core;
        // An administrator changed this user's roles while the request ran: the cut-off is
        // above `now`, and `user` may have been read before it, so tokens are minted from a
        // fresh read and never carry the old roles past it.
        if core.cut_off_since(&user.id, now)
            && let Some(fresh) = core.store().user_by_id(&user.id).await?
        {
            user = fresh;
        }
        let access_token = core.mint_access(&user, &session_id, to, now)?;
        Ok(Issued {
            access_token,
            expires_in: core.rules().access_ttl,
            refresh_token,
            refresh_max_age: (absolute_expires_at - now).max(0),
            csrf_token: core.csrf_token(&session_id),
            device_token: None,
            session_id,
            user: user.into(),
            scope: to.scope.map(str::to_owned),
        })
    }

    fn check_csrf(&self, session_id: &str, csrf: Csrf<'_>) -> Result<(), AuthError> {
        match csrf {
            Csrf::NotRequired => Ok(()),
            Csrf::Required(p) if self.core.csrf_matches(session_id, p) => Ok(()),
            Csrf::Required(_) => Err(AuthError::CsrfFailed),
        }
    }

    /// Rotates a refresh token (RFC 9700 §4.14.2) with a convergent grace window.
    pub async fn refresh(
        &self,
        presented: &RefreshToken,
        csrf: Csrf<'_>,
        client_id: &str,
    ) -> Result<Issued, AuthError> {
        let result = self.rotate(presented, csrf, client_id).await;
        self.metrics.refresh(outcome(&result));
        result
    }

    /// Only `client_id`'s sessions: a refresh token presented by another client than the one
    /// it was issued to is unknown to it (and is not spent).
    async fn rotate(
        &self,
        presented: &RefreshToken,
        csrf: Csrf<'_>,
        client_id: &str,
    ) -> Result<Issued, AuthError> {
        let store = self.core.store();
        let now = self.core.clock().now();
        let hash = presented.hash();
        let successor = self.core.refresh_successor(presented);
        let idle_until = now + self.rules.idle_ttl;
        // The common case in one step (one round trip on PostgreSQL): a live, unspent token of
        // an enabled account is spent and its successor stored. A cookie client's CSRF token
        // is checked against the session, which must be found first: that case, and every
        // other (spent, ended, expired, disabled), takes the path below.
        if matches!(csrf, Csrf::NotRequired)
            && let Some(found) = store
                .rotate_refresh(client_id, &hash, &successor.hash(), now, idle_until)
                .await?
        {
            return self.issue_found(found, successor, now).await;
        }
        // Two passes at most: if a concurrent request spends the token between our read and our
        // update, the second pass sees it spent moments ago and converges on the same successor.
        for _ in 0..2 {
            let found = store
                .find_refresh(&hash)
                .await?
                .filter(|f| f.session.client_id == client_id)
                .ok_or(AuthError::InvalidRefreshToken)?;
            let session = &found.session;
            if let Some(why) = ended(session) {
                return Err(AuthError::SessionEnded(why));
            }
            self.check_csrf(&session.id, csrf)?;
            // Disabling ends the account's sessions in its own transaction; one that got past
            // it (created by a sign-in racing the disable) ends here.
            if found.disabled {
                let why = EndReason::DisabledByAdmin;
                self.core.end_session(&session.id, why).await?;
                return Err(AuthError::SessionEnded(why));
            }
            if now >= session.idle_expires_at || now >= session.absolute_expires_at {
                let expired = EndReason::SessionExpired;
                store
                    .end_session(&session.id, now, expired.as_str())
                    .await?;
                return Err(AuthError::SessionEnded(expired));
            }
            match found.spent_at {
                None => {
                    if store
                        .rotate_refresh(client_id, &hash, &successor.hash(), now, idle_until)
                        .await?
                        .is_some()
                    {
                        return self.issue_found(found, successor, now).await;
                    }
                }
                // Racing tabs (inside the grace window), or a client that never got the answer
                // to its refresh (a crash between the commit and the reply; a retry after a
                // restart longer than the grace): while the successor has never been presented,
                // the holder of this token is the only one who can know it, so it gets the same
                // successor again. Theft shows when the successor has been used: below.
                Some(spent_at)
                    if now - spent_at < self.rules.grace
                        || self.successor_unused(&successor).await? =>
                {
                    return self.issue_found(found, successor, now).await;
                }
                Some(_) => return Err(self.reused(session).await),
            }
        }
        Err(AuthError::Internal(
            "refresh rotation did not settle".into(),
        ))
    }

    /// The tokens of a refresh of the session `found` names, for its client.
    async fn issue_found(
        &self,
        found: RefreshLookup,
        successor: RefreshToken,
        now: i64,
    ) -> Result<Issued, AuthError> {
        let session = found.session;
        let to = Recipient {
            client_id: &session.client_id,
            scope: session.scope.as_deref(),
        };
        let absolute = session.absolute_expires_at;
        self.issue(found.user, session.id.clone(), to, successor, absolute, now)
            .await
    }

    /// A spent refresh token came back after its successor was used: someone else holds this
    /// token chain (RFC 9700 §4.14.2). The session ends and its access tokens are refused.
    async fn reused(&self, session: &SessionRow) -> AuthError {
        let why = EndReason::RefreshTokenReused;
        if let Err(e) = self.core.end_session(&session.id, why).await {
            self.metrics.reuse_detected("error");
            return e;
        }
        self.metrics.reuse_detected("session_revoked");
        tracing::warn!(session_id = %session.id, user_id = %session.user_id, "refresh token reused; session revoked");
        self.core
            .audit()
            .record(AuditEvent {
                actor: None,
                subject: Some(&session.user_id),
                ip: None,
                event: "refresh_token_reused",
                outcome: Outcome::Failure,
                detail: Some(format!("session {} revoked", session.id)),
            })
            .await;
        AuthError::SessionEnded(why)
    }

    /// Whether `successor` was stored (its predecessor was spent) and has never been presented.
    async fn successor_unused(&self, successor: &RefreshToken) -> Result<bool, AuthError> {
        let found = self.core.store().find_refresh(&successor.hash()).await?;
        Ok(found.is_some_and(|f| f.spent_at.is_none()))
    }

    /// The id of the live session a refresh token belongs to, without spending it. A session
    /// that was ended is `SessionEnded` with its reason, so a page loaded after it ended (an
    /// app signed the user out, an administrator ended it) can say why.
    pub async fn active_session_for_refresh(
        &self,
        presented: &RefreshToken,
    ) -> Result<Option<String>, AuthError> {
        let now = self.core.clock().now();
        let Some(found) = self.core.store().find_refresh(&presented.hash()).await? else {
            return Ok(None);
        };
        if let Some(why) = ended(&found.session) {
            return Err(AuthError::SessionEnded(why));
        }
        Ok(found.session.live_at(now).then_some(found.session.id))
    }

    /// The user's live sessions, most recently used first.
    pub async fn list(
        &self,
        user_id: &str,
        current: Option<&str>,
    ) -> Result<Vec<SessionView>, AuthError> {
        let now = self.core.clock().now();
        let rows = self.core.store().live_sessions_of(user_id, now).await?;
        Ok(rows
            .into_iter()
            .map(|r| SessionView {
                current: current == Some(r.id.as_str()),
                device: device::label(r.user_agent.as_deref()),
                id: r.id,
                ip: r.ip,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
                app: r.app,
            })
            .collect())
    }

    /// Ends one of the caller's own sessions. Another user's (or an unknown, or an already
    /// ended) session is `NotFound`: ids of other people's sessions are not confirmed.
    pub async fn revoke_own(
        &self,
        user_id: &str,
        session_id: &str,
        current: Option<&str>,
        ip: &str,
    ) -> Result<(), AuthError> {
        let core = &self.core;
        if !core
            .store()
            .is_unended_session_of(session_id, user_id)
            .await?
        {
            return Err(AuthError::NotFound);
        }
        let why = if current == Some(session_id) {
            EndReason::Logout
        } else {
            EndReason::SignedOutElsewhere
        };
        core.end_session(session_id, why).await?;
        core.audit()
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

    /// Logout of `scope` for the caller whose current session is `current`.
    pub async fn logout(
        &self,
        user_id: &str,
        current: &str,
        scope: LogoutScope,
        ip: &str,
    ) -> Result<(), AuthError> {
        let core = &self.core;
        match scope {
            LogoutScope::Current => core.end_session(current, EndReason::Logout).await?,
            LogoutScope::Others => {
                let why = EndReason::SignedOutElsewhere;
                core.end_sessions_of_user(user_id, Some(current), why, false)
                    .await?;
            }
            // Everywhere means every token too, those of sessions that expired on their own.
            LogoutScope::All => {
                let why = EndReason::SignedOutElsewhere;
                core.end_sessions_of_user(user_id, Some(current), why, true)
                    .await?;
                core.end_session(current, EndReason::Logout).await?;
            }
        }
        let detail = match scope {
            LogoutScope::Current => "scope current",
            LogoutScope::Others => "scope others",
            LogoutScope::All => "scope all",
        };
        tracing::info!(user_id = %user_id, session_id = %current, scope = detail, "logout");
        core.audit()
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
    pub async fn logout_with_refresh(
        &self,
        presented: &RefreshToken,
        csrf: Csrf<'_>,
        scope: LogoutScope,
        ip: &str,
    ) -> Result<(), AuthError> {
        let Some(found) = self.core.store().find_refresh(&presented.hash()).await? else {
            return Err(AuthError::InvalidRefreshToken);
        };
        self.check_csrf(&found.session.id, csrf)?;
        // A spent token speaks for no one: whoever holds it is replaying it (the live chain has
        // moved on), so it is theft, never a logout, and it chooses no scope.
        if found.session.ended_at.is_none() && found.spent_at.is_some() {
            return Err(self.reused(&found.session).await);
        }
        if let Some(why) = ended(&found.session) {
            if scope == LogoutScope::Current {
                return Ok(());
            }
            // An ended session cannot speak for the others.
            return Err(AuthError::SessionEnded(why));
        }
        self.logout(&found.session.user_id, &found.session.id, scope, ip)
            .await
    }
}
