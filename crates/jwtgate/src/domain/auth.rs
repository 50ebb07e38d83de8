//! Owns the authentication flows: register, login, refresh rotation with the convergent grace
//! window and reuse detection, logout, access-token minting and verification, and the rebuild of
//! the revocation view on startup. Must not import axum or sqlx (SQL lives in `store`).

use std::sync::Arc;

use jwtgate_verify::{ACCESS_TOKEN_TYP, Audience, Claims, KeySet, RevocationView, Verifier};
use serde::Serialize;

use crate::domain::audit::{Audit, AuditEvent, Outcome};
use crate::domain::clock::Clock;
use crate::domain::email::Email;
use crate::domain::password::{self, HashError, Password, PasswordHasher, Verified, WeakPassword};
use crate::domain::sessions::reason;
use crate::domain::throttle::{Attempt, LoginThrottle, Throttled};
use crate::domain::tokens::{self, RefreshToken, ServerKey};
use crate::store::{Created, NewSession, SessionLimits, SessionRow, Store, StoreError, UserRow};

/// The `client_id` claim (RFC 9068 §2.2) of tokens issued by jwtgate's own login endpoint.
pub const CLIENT_ID: &str = "jwtgate";

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
    /// The session is over; the string is the stable reason (`logout`, `refresh_token_reused`...).
    #[error("session ended: {0}")]
    SessionEnded(String),
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
            StoreError::Conflict => AuthError::EmailTaken,
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

/// How long an ended or expired session stays in the database (seconds): 7 days.
pub const DEAD_SESSION_RETENTION: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: i64,
    pub idle_ttl: i64,
    pub absolute_ttl: i64,
    pub grace: i64,
    pub leeway: i64,
    /// Login waits for a verified address; registration stops revealing taken addresses.
    pub require_email_verification: bool,
    /// Live sessions per account at most.
    pub max_sessions: u32,
    /// Successful sign-ins per account per minute at most.
    pub sign_ins_per_minute: u32,
}

/// The public view of an account.
#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug)]
pub struct Auth {
    // Visible to the sibling domain modules (sessions, accounts) that extend `Auth`.
    pub(crate) store: Store,
    pub(crate) hasher: PasswordHasher,
    pub(crate) throttle: LoginThrottle,
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) keys: Arc<KeySet>,
    revocation: Arc<RevocationView>,
    pub(crate) clock: Clock,
    refresh_key: ServerKey,
    csrf_key: ServerKey,
    device_key: ServerKey,
    pub(crate) config: AuthConfig,
}

#[derive(Debug)]
pub struct AuthParts {
    pub store: Store,
    pub hasher: PasswordHasher,
    pub throttle: LoginThrottle,
    pub verifier: Arc<Verifier>,
    pub revocation: Arc<RevocationView>,
    pub clock: Clock,
    pub refresh_key: ServerKey,
    pub csrf_key: ServerKey,
    pub device_key: ServerKey,
    pub config: AuthConfig,
}

impl Auth {
    pub fn new(p: AuthParts) -> Self {
        Self {
            keys: p.verifier.keys(),
            store: p.store,
            hasher: p.hasher,
            throttle: p.throttle,
            verifier: p.verifier,
            revocation: p.revocation,
            clock: p.clock,
            refresh_key: p.refresh_key,
            csrf_key: p.csrf_key,
            device_key: p.device_key,
            config: p.config,
        }
    }

    /// The audit log (shares this server's store and clock).
    pub fn audit(&self) -> Audit {
        Audit::new(self.store.clone(), self.clock.clone())
    }

    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn revocation(&self) -> &RevocationView {
        &self.revocation
    }

    /// Readiness: the database answers.
    pub async fn ready(&self) -> Result<(), AuthError> {
        Ok(self.store.ping().await?)
    }

    /// Closes the database pool (shutdown).
    pub async fn close(&self) {
        self.store.close().await;
    }

    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// How long a revoked session's access tokens may still verify: their lifetime plus leeway.
    pub(crate) fn revocation_horizon(&self) -> i64 {
        self.config.access_ttl + self.config.leeway
    }

    /// INVARIANT: a restart never revives a revoked token. Every session ended within the last
    /// access-token lifetime is put back into the revocation view before the server listens.
    pub async fn rebuild_revocation(&self) -> Result<usize, AuthError> {
        let now = self.clock.now();
        let horizon = self.revocation_horizon();
        let ended = self.store.sessions_ended_since(now - horizon).await?;
        for (sid, ended_at) in &ended {
            self.revocation.revoke_session(sid, ended_at + horizon);
        }
        Ok(ended.len())
    }

    pub fn prune(&self) {
        let now = self.clock.now();
        self.revocation.prune(now);
        self.throttle.prune(now);
    }

    /// Deletes sessions (and their refresh-token chains) that ended or expired more than
    /// `DEAD_SESSION_RETENTION` ago, expired single-use tokens, and the record of mails that
    /// no longer count against any limit (over an hour old). By then the revocation view no
    /// longer needs them (its horizon is one access-token lifetime) and a client presenting
    /// such a refresh token has long been told why its session ended. Returns how many
    /// (sessions, single-use tokens, mail records) went.
    pub async fn prune_store(&self) -> Result<(u64, u64, u64), AuthError> {
        let now = self.clock.now();
        let (sessions, one_time) = self
            .store
            .prune_dead_sessions(now - DEAD_SESSION_RETENTION)
            .await?;
        let mails = self.store.prune_mail_sends(now - 3600).await?;
        Ok((sessions, one_time, mails))
    }

    /// The strength policy for `password` as the password of `email`.
    pub async fn check_strength(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<(), AuthError> {
        // zxcvbn costs milliseconds on long inputs: keep it off the async workers.
        let (pw, address) = (password.clone(), email.as_str().to_owned());
        tokio::task::spawn_blocking(move || {
            let local = address.split('@').next().unwrap_or_default();
            password::check_strength(&pw, &[address.as_str(), local, "jwtgate"])
        })
        .await
        .map_err(|e| AuthError::Internal(e.to_string()))?
        .map_err(|e: WeakPassword| AuthError::WeakPassword(e.to_string()))
    }

    /// Creates an account with an already computed hash (also used by `jwtgate user add`,
    /// whose operator may vouch for the address: `email_verified`).
    pub async fn create_user(
        &self,
        email: Email,
        password_hash: String,
        roles: Vec<String>,
        email_verified: bool,
    ) -> Result<UserRow, AuthError> {
        let row = UserRow {
            id: tokens::uuid_v4(),
            email: email.as_str().to_owned(),
            password_hash,
            roles,
            plan: None,
            created_at: self.clock.now(),
            email_verified,
        };
        self.store.insert_user(&row).await?;
        Ok(row)
    }

    pub async fn hash_password(&self, password: &Password) -> Result<String, AuthError> {
        Ok(self.hasher.hash(password).await?)
    }

    pub async fn login(&self, req: LoginRequest<'_>) -> Result<Issued, AuthError> {
        let now = self.clock.now();
        // Throttle on the normalised form even when it is not a valid address, so the same
        // account cannot be hammered through spelling variants.
        let account = Email::throttle_key(req.email);
        // A device that signed in to this account before is throttled on its own: an attacker
        // holding the account locked for anonymous clients does not lock its owner out.
        let device = req
            .device_token
            .and_then(|t| tokens::device_nonce(&self.device_key, t, &account, now));
        let attempt = match &device {
            Some(nonce) => Attempt::Device(nonce),
            None => Attempt::Anonymous {
                account: &account,
                ip: req.ip,
            },
        };
        self.throttle
            .check(&attempt, now)
            .map_err(AuthError::Throttled)?;
        // Held until the answer: one address flooding logins fills only its share of the queue.
        let _in_flight = self.throttle.enter(req.ip).ok_or(AuthError::Busy)?;
        let user = match Email::parse(req.email) {
            Ok(email) => self.store.user_by_email(email.as_str()).await?,
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
                if let Err(e) = self.store.update_password_hash(&user.id, &hash).await {
                    tracing::warn!(user_id = %user.id, error = %e, "could not upgrade password hash");
                }
                user
            }
            (user, _) => {
                self.throttle.record_failure(&attempt, now);
                // The subject is the account when it exists; an unknown address creates no id
                // (the detail names it only when it is a well-formed address, never raw input).
                let detail = match &user {
                    Some(_) => "wrong password".to_owned(),
                    None => match Email::parse(req.email) {
                        Ok(e) => format!("unknown account {}", e.as_str()),
                        Err(_) => "unknown account".to_owned(),
                    },
                };
                self.audit()
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
        self.throttle.record_success(&attempt);
        // Checked only after a correct password, so the answer reveals nothing to a guesser.
        if self.store.is_disabled(&user.id).await? {
            return Err(AuthError::AccountDisabled);
        }
        // Only after a correct password, so the answer reveals nothing to a guesser.
        if self.config.require_email_verification
            && self.store.email_verified_at(&user.id).await?.is_none()
        {
            self.audit_login(
                &user.id,
                req.ip,
                Outcome::Failure,
                "email not verified".into(),
            )
            .await;
            return Err(AuthError::EmailNotVerified);
        }

        let session_id = tokens::uuid_v4();
        let refresh = tokens::new_refresh_token();
        let absolute = now + self.config.absolute_ttl;
        let created = self
            .store
            .create_session(
                &NewSession {
                    id: &session_id,
                    user_id: &user.id,
                    now,
                    idle_expires_at: (now + self.config.idle_ttl).min(absolute),
                    absolute_expires_at: absolute,
                    user_agent: req.user_agent,
                    ip: Some(req.ip),
                    refresh_hash: &refresh.hash(),
                },
                &SessionLimits {
                    live: self.config.max_sessions,
                    per_minute: self.config.sign_ins_per_minute,
                    reason: reason::SESSION_LIMIT,
                },
            )
            .await?;
        match created {
            Created::Created { ended } => self.revoke_sessions(&ended),
            Created::TooMany => {
                let detail = "too many sign-ins this minute".into();
                self.audit_login(&user.id, req.ip, Outcome::Failure, detail)
                    .await;
                return Err(AuthError::TooManySignIns);
            }
        }
        tracing::info!(user_id = %user.id, session_id = %session_id, "login");
        let detail = format!("session {session_id}");
        self.audit_login(&user.id, req.ip, Outcome::Success, detail)
            .await;
        let mut issued = self.issue(user, session_id, refresh, absolute, now).await?;
        issued.device_token = Some(tokens::device_token(&self.device_key, &account, now));
        Ok(issued)
    }

    /// A sign-in of `user_id` that got past the password, and how it ended.
    async fn audit_login(&self, user_id: &str, ip: &str, outcome: Outcome, detail: String) {
        self.audit()
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

    async fn issue(
        &self,
        mut user: UserRow,
        session_id: String,
        refresh_token: RefreshToken,
        absolute_expires_at: i64,
        now: i64,
    ) -> Result<Issued, AuthError> {
        // An administrator acted on this user while the request ran (disable or role change).
        // Disabling may have ended the sessions just before this one was created or refreshed;
        // a role change sets a cut-off above `now`, and `user` may have been read before it:
        // tokens are minted from a fresh read so they never carry the old roles past it.
        if self.store.is_disabled(&user.id).await? {
            self.end_session(&session_id, "disabled_by_admin").await?;
            return Err(AuthError::SessionEnded("disabled_by_admin".into()));
        }
        if self
            .revocation
            .user_cutoff(&user.id)
            .is_some_and(|cutoff| cutoff > now)
            && let Some(fresh) = self.store.admin_user(&user.id).await?
        {
            user = fresh.user;
        }
        let access_token = self.mint_access(&user, &session_id, now)?;
        Ok(Issued {
            access_token,
            expires_in: self.config.access_ttl,
            refresh_token,
            refresh_max_age: (absolute_expires_at - now).max(0),
            csrf_token: tokens::csrf_token(&self.csrf_key, &session_id),
            device_token: None,
            session_id,
            user: user.into(),
        })
    }

    fn mint_access(&self, user: &UserRow, session_id: &str, now: i64) -> Result<String, AuthError> {
        // A user-wide cut-off ("sign out everywhere") must not reject tokens minted after it.
        let iat = self
            .revocation
            .user_cutoff(&user.id)
            .map_or(now, |cutoff| cutoff.max(now));
        let claims = Claims {
            iss: self.config.issuer.clone(),
            sub: user.id.clone(),
            aud: Audience::One(self.config.audience.clone()),
            exp: iat + self.config.access_ttl,
            iat,
            nbf: Some(now),
            jti: tokens::random_id(),
            sid: Some(session_id.to_owned()),
            roles: user.roles.clone(),
            plan: Some(
                user.plan
                    .clone()
                    .unwrap_or_else(|| crate::domain::plans::DEFAULT_PLAN.to_owned()),
            ),
            email: Some(user.email.clone()),
            email_verified: Some(user.email_verified),
            client_id: Some(CLIENT_ID.to_owned()),
            extra: serde_json::Map::new(),
        };
        self.keys
            .sign(ACCESS_TOKEN_TYP, &claims)
            .map_err(|e| AuthError::Internal(format!("signing failed: {e}")))
    }

    /// Verifies an access token at the injected clock's time (revocation view included).
    pub fn verify_access(&self, token: &str) -> Result<Arc<Claims>, jwtgate_verify::Error> {
        self.verifier.verify_at(token, self.clock.now())
    }

    pub fn csrf_token(&self, session_id: &str) -> String {
        tokens::csrf_token(&self.csrf_key, session_id)
    }

    pub fn csrf_matches(&self, session_id: &str, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| tokens::csrf_matches(&self.csrf_key, session_id, p))
    }

    pub(crate) fn check_csrf(&self, session_id: &str, csrf: Csrf<'_>) -> Result<(), AuthError> {
        match csrf {
            Csrf::NotRequired => Ok(()),
            Csrf::Required(p) if self.csrf_matches(session_id, p) => Ok(()),
            Csrf::Required(_) => Err(AuthError::CsrfFailed),
        }
    }

    /// Rotates a refresh token (RFC 9700 §4.14.2) with a convergent grace window.
    pub async fn refresh(
        &self,
        presented: &RefreshToken,
        csrf: Csrf<'_>,
    ) -> Result<Issued, AuthError> {
        let now = self.clock.now();
        let hash = presented.hash();
        let successor = tokens::refresh_successor(&self.refresh_key, presented);
        // Two passes at most: if a concurrent request spends the token between our read and our
        // update, the second pass sees it spent moments ago and converges on the same successor.
        for _ in 0..2 {
            let found = self
                .store
                .find_refresh(&hash)
                .await?
                .ok_or(AuthError::InvalidRefreshToken)?;
            let session = &found.session;
            if session.ended_at.is_some() {
                let reason = session
                    .end_reason
                    .clone()
                    .unwrap_or_else(|| "session_ended".into());
                return Err(AuthError::SessionEnded(reason));
            }
            self.check_csrf(&session.id, csrf)?;
            if now >= session.idle_expires_at || now >= session.absolute_expires_at {
                self.store
                    .end_session(&session.id, now, "session_expired")
                    .await?;
                return Err(AuthError::SessionEnded("session_expired".into()));
            }
            match found.spent_at {
                None => {
                    let idle = (now + self.config.idle_ttl).min(session.absolute_expires_at);
                    if self
                        .store
                        .rotate_refresh(&hash, &successor.hash(), &session.id, now, idle)
                        .await?
                    {
                        return self
                            .issue(
                                found.user,
                                found.session.id,
                                successor,
                                found.session.absolute_expires_at,
                                now,
                            )
                            .await;
                    }
                }
                // Racing tabs (inside the grace window), or a client that never got the answer
                // to its refresh (a crash between the commit and the reply; a retry after a
                // restart longer than the grace): while the successor has never been presented,
                // the holder of this token is the only one who can know it, so it gets the same
                // successor again. Theft shows when the successor has been used: below.
                Some(spent_at)
                    if now - spent_at <= self.config.grace
                        || self.successor_unused(&successor).await? =>
                {
                    return self
                        .issue(
                            found.user,
                            found.session.id,
                            successor,
                            found.session.absolute_expires_at,
                            now,
                        )
                        .await;
                }
                Some(_) => return Err(self.reused(session).await),
            }
        }
        Err(AuthError::Internal(
            "refresh rotation did not settle".into(),
        ))
    }

    /// A spent refresh token came back after its successor was used: someone else holds this
    /// token chain (RFC 9700 §4.14.2). The session ends and its access tokens are refused.
    pub(crate) async fn reused(&self, session: &SessionRow) -> AuthError {
        if let Err(e) = self.end_session(&session.id, "refresh_token_reused").await {
            return e;
        }
        tracing::warn!(session_id = %session.id, user_id = %session.user_id, "refresh token reused; session revoked");
        self.audit()
            .record(AuditEvent {
                actor: None,
                subject: Some(&session.user_id),
                ip: None,
                event: "refresh_token_reused",
                outcome: Outcome::Failure,
                detail: Some(format!("session {} revoked", session.id)),
            })
            .await;
        AuthError::SessionEnded("refresh_token_reused".into())
    }

    /// Whether `successor` was stored (its predecessor was spent) and has never been presented.
    async fn successor_unused(&self, successor: &RefreshToken) -> Result<bool, AuthError> {
        let found = self.store.find_refresh(&successor.hash()).await?;
        Ok(found.is_some_and(|f| f.spent_at.is_none()))
    }

    /// A user-wide cut-off for "now": with it, every token of a user minted up to this second
    /// is refused. The next token minted for the user carries `iat = max(now, cut-off)` (see
    /// `mint_access`), so a refresh in this same second still passes.
    pub(crate) fn cutoff_now(&self) -> i64 {
        self.clock.now() + 1
    }

    /// Refuses every token of `user_id` issued before `cutoff` in this process, once the store
    /// holds the cut-off (after the commit: a change the store refused, such as the last
    /// administrator's, must cut nobody off).
    pub(crate) fn revoke_user(&self, user_id: &str, cutoff: i64) {
        let until = self.clock.now() + self.revocation_horizon();
        self.revocation
            .revoke_user_tokens_issued_before(user_id, cutoff, until);
    }

    /// Revokes the access tokens of sessions the store has just ended.
    pub(crate) fn revoke_sessions(&self, ended: &[String]) {
        let until = self.clock.now() + self.revocation_horizon();
        for sid in ended {
            self.revocation.revoke_session(sid, until);
        }
    }

    /// A fresh access token for a live session of `user_id` (after a cut-off that the session
    /// survives, such as the caller's own password change).
    pub async fn reissue_access(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<(String, i64), AuthError> {
        let user = self
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let token = self.mint_access(&user, session_id, self.clock.now())?;
        Ok((token, self.config.access_ttl))
    }

    /// Ends a session and revokes its access tokens at once.
    pub async fn end_session(&self, session_id: &str, reason: &str) -> Result<(), AuthError> {
        let now = self.clock.now();
        // Revoke first: even if the write fails, this process stops accepting the tokens.
        self.revocation
            .revoke_session(session_id, now + self.revocation_horizon());
        self.store.end_session(session_id, now, reason).await?;
        Ok(())
    }
}

impl Auth {
    /// The id of the live session a refresh token belongs to, without spending it.
    pub async fn active_session_for_refresh(
        &self,
        presented: &RefreshToken,
    ) -> Result<Option<String>, AuthError> {
        let now = self.clock.now();
        Ok(self
            .store
            .find_refresh(&presented.hash())
            .await?
            .filter(|f| {
                f.session.ended_at.is_none()
                    && now < f.session.idle_expires_at
                    && now < f.session.absolute_expires_at
            })
            .map(|f| f.session.id))
    }
}
