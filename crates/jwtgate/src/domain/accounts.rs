//! Owns the account flows around passwords and email: password change, forgot/reset, email
//! verification (and its resend), and registration when `require_email_verification` is on.
//! Must not import axum or sqlx.
//!
//! Reset and verification links carry single-use JWTs with their own `typ` (`reset+jwt`,
//! `verify-email+jwt`), signed with the server's keys through `jwtgate-verify` and checked by
//! sibling verifiers, so neither can stand in for an access token nor the reverse. A token is
//! single-use because the SHA-256 of its `jti` is stored when minted and marked used by one
//! atomic UPDATE when consumed, and a new password retires every unused reset link of the
//! account in the same transaction. The siblings have no revocation view: the cut-off that a
//! password change, a role change or a disable puts on the user's access tokens would otherwise
//! also refuse a link mailed a moment later in the same second, and the database already says
//! which links are spent.
//!
//! Links point at the web client's pages (`/#/reset-password?token=...`), which only show a
//! button: a mail scanner that opens them consumes nothing; only the POSTs do.

use std::sync::Arc;

use aws_lc_rs::digest;
use jwtgate_verify::{Audience, Claims, Policy, Verifier};

use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::auth::{Auth, AuthError, User};
use crate::domain::background::Background;
use crate::domain::email::Email;
use crate::domain::mail::{Admission, Mail, MailGate, MailKind, Mailer};
use crate::domain::password::{Password, Verified};
use crate::domain::sessions::reason;
use crate::domain::throttle::Attempt;
use crate::domain::tokens;
use crate::store::{Consumed, EndSessions, PasswordUpdate, UserRow};

/// Header `typ` of password-reset tokens.
pub const RESET_TYP: &str = "reset+jwt";
/// Header `typ` of email-verification tokens.
pub const VERIFY_EMAIL_TYP: &str = "verify-email+jwt";
/// A reset link works for 30 minutes.
pub const RESET_TTL: i64 = 30 * 60;
/// A verification link works for 24 hours.
pub const VERIFY_TTL: i64 = 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Purpose {
    Reset,
    VerifyEmail,
}

impl Purpose {
    fn typ(self) -> &'static str {
        match self {
            Purpose::Reset => RESET_TYP,
            Purpose::VerifyEmail => VERIFY_EMAIL_TYP,
        }
    }
    fn kind(self) -> MailKind {
        match self {
            Purpose::Reset => MailKind::Reset,
            Purpose::VerifyEmail => MailKind::VerifyEmail,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Purpose::Reset => "reset",
            Purpose::VerifyEmail => "verify_email",
        }
    }
    fn ttl(self) -> i64 {
        match self {
            Purpose::Reset => RESET_TTL,
            Purpose::VerifyEmail => VERIFY_TTL,
        }
    }
    /// The `aud` of these tokens: the endpoint that consumes them, never the API's audience,
    /// so a verifier that checks only issuer and audience cannot take one for an access token.
    fn audience(self, issuer: &str) -> String {
        let endpoint = match self {
            Purpose::Reset => "/auth/password/reset",
            Purpose::VerifyEmail => "/auth/email/verify",
        };
        format!("{}{endpoint}", issuer.trim_end_matches('/'))
    }

    /// The web-client page the mailed link opens.
    fn page(self) -> &'static str {
        match self {
            Purpose::Reset => "reset-password",
            Purpose::VerifyEmail => "verify-email",
        }
    }
    /// The mail that carries `link` to `to`.
    fn mail(self, to: String, link: &str) -> Mail {
        let (subject, text) = match self {
            Purpose::Reset => (
                "Reset your password",
                format!(
                    "Hello,\r\n\r\nA password reset was requested for your account. Open the link \
                     below and choose a new password. It works once, for 30 minutes, and signs you \
                     out everywhere.\r\n\r\n{link}\r\n\r\nIf you did not ask for this, ignore this \
                     message: your password is unchanged.\r\n"
                ),
            ),
            Purpose::VerifyEmail => (
                "Confirm your email address",
                format!(
                    "Hello,\r\n\r\nConfirm that this address is yours by opening the link below and \
                     pressing the button on the page. It works once, for 24 hours.\r\n\r\n{link}\r\n\r\n\
                     If you did not create an account, ignore this message.\r\n"
                ),
            ),
        };
        Mail {
            to,
            subject: subject.into(),
            text,
        }
    }
}

/// What a signed-in user's resend did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resent {
    Sent {
        next_in_secs: i64,
    },
    /// Over the mail ration: nothing went; another can go in `next_in_secs`.
    Held {
        next_in_secs: i64,
    },
    AlreadyVerified,
}

/// What registration answered.
#[derive(Debug)]
pub enum Registered {
    /// The account exists now (`require_email_verification` off: 201).
    Created(User),
    /// Nothing is said about the address (`require_email_verification` on: 202).
    Accepted,
}

/// The password and email flows. Shared behind an `Arc` (flows that mail spawn a task).
#[derive(Debug)]
pub struct Accounts {
    auth: Arc<Auth>,
    mailer: Mailer,
    /// Work a request starts and does not wait for; shutdown (and tests) wait for it.
    background: Background,
    reset: Verifier,
    verify_email: Verifier,
    public_url: String,
    /// Rations every mail these flows send (per recipient, per client address, server-wide).
    gate: MailGate,
}

fn jti_hash(jti: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, jti.as_bytes())
        .as_ref()
        .to_vec()
}

impl Accounts {
    /// `public_url` is the base of the links in mails (the web client's origin).
    pub fn new(
        auth: Arc<Auth>,
        mailer: Mailer,
        gate: MailGate,
        background: Background,
        public_url: &str,
    ) -> Self {
        let c = auth.config.clone();
        let leeway = u32::try_from(c.leeway).unwrap_or(30);
        // Single use and retirement live in the database (see the module notes), so a user's
        // cut-off, which refuses access tokens, does not touch the links mailed to them.
        let sibling = |p: Purpose| {
            auth.verifier
                .sibling(
                    Policy::new(c.issuer.clone(), p.audience(&c.issuer))
                        .with_typ(p.typ())
                        .with_leeway(leeway)
                        .with_max_lifetime(u32::try_from(p.ttl()).unwrap_or(u32::MAX)),
                )
                .without_revocation()
        };
        Self {
            reset: sibling(Purpose::Reset),
            verify_email: sibling(Purpose::VerifyEmail),
            auth,
            mailer,
            background,
            public_url: public_url.trim_end_matches('/').to_owned(),
            gate,
        }
    }

    pub fn auth(&self) -> &Arc<Auth> {
        &self.auth
    }

    /// The background work of these flows (mail delivery included).
    pub fn background(&self) -> &Background {
        &self.background
    }

    async fn mint(&self, purpose: Purpose, user: &UserRow) -> Result<String, AuthError> {
        let now = self.auth.clock.now();
        let jti = tokens::random_id();
        let config = &self.auth.config;
        let claims = Claims {
            iss: config.issuer.clone(),
            sub: user.id.clone(),
            aud: Audience::One(purpose.audience(&config.issuer)),
            exp: now + purpose.ttl(),
            iat: now,
            nbf: Some(now),
            jti: jti.clone(),
            sid: None,
            roles: Vec::new(),
            plan: None,
            email: Some(user.email.clone()),
            email_verified: None,
            client_id: None,
            extra: serde_json::Map::new(),
        };
        let token = self
            .auth
            .keys
            .sign(purpose.typ(), &claims)
            .map_err(|e| AuthError::Internal(format!("signing failed: {e}")))?;
        self.auth
            .store
            .insert_one_time(
                &jti_hash(&jti),
                purpose.name(),
                &user.id,
                now,
                now + purpose.ttl(),
            )
            .await?;
        Ok(token)
    }

    /// Verifies a single-use token of `purpose` (signature, `typ`, expiry) without using it.
    fn check(&self, purpose: Purpose, token: &str) -> Result<Arc<Claims>, AuthError> {
        let verifier = match purpose {
            Purpose::Reset => &self.reset,
            Purpose::VerifyEmail => &self.verify_email,
        };
        verifier
            .verify_at(token.trim(), self.auth.clock.now())
            .map_err(|e| match e {
                jwtgate_verify::Error::Expired => AuthError::TokenExpired,
                other => {
                    tracing::debug!(reason = other.reason(), "single-use token rejected");
                    AuthError::InvalidToken
                }
            })
    }

    /// Marks the token used; exactly one caller ever succeeds.
    async fn consume(&self, purpose: Purpose, claims: &Claims) -> Result<(), AuthError> {
        let now = self.auth.clock.now();
        match self
            .auth
            .store
            .consume_one_time(&jti_hash(&claims.jti), purpose.name(), &claims.sub, now)
            .await?
        {
            Consumed::Now => Ok(()),
            Consumed::AlreadyUsed => Err(AuthError::TokenUsed),
            Consumed::Unknown => Err(AuthError::InvalidToken),
        }
    }

    /// Mints a single-use token of `purpose` for `user` and mails them its link, when the
    /// mail ration allows (`client_ip` asked for it). Whether the mail went, and when the next
    /// could.
    async fn mail_link(
        &self,
        purpose: Purpose,
        user: &UserRow,
        client_ip: &str,
    ) -> Result<Admission, AuthError> {
        let admission = self
            .gate
            .admit(purpose.kind(), &user.email, client_ip)
            .await?;
        if admission.sent {
            let token = self.mint(purpose, user).await?;
            let link = format!("{}/#/{}?token={token}", self.public_url, purpose.page());
            self.mailer.send(purpose.mail(user.email.clone(), &link));
        }
        Ok(admission)
    }

    /// Records an event the account holder caused on their own account.
    async fn audit_own(
        &self,
        user_id: &str,
        ip: &str,
        event: &'static str,
        outcome: Outcome,
        detail: Option<String>,
    ) {
        self.auth
            .audit()
            .record(AuditEvent {
                actor: Some(user_id),
                subject: Some(user_id),
                ip: Some(ip),
                event,
                outcome,
                detail,
            })
            .await;
    }

    /// Registration, answered only once its work is done: the account exists and its
    /// verification mail is queued, or the caller is told to retry (`Busy`, 503). Nothing is
    /// acknowledged and then dropped.
    ///
    /// With `require_email_verification` off, a taken address is `EmailTaken` (409). With it on,
    /// the answer is `Accepted` (202) either way, and a taken address gets a "someone tried to
    /// register" mail instead; both paths hash the password, so neither the answer nor its
    /// timing tells whether the address has an account.
    pub async fn register(
        &self,
        email: &str,
        password: Password,
        ip: &str,
    ) -> Result<Registered, AuthError> {
        let email = Email::parse(email).map_err(|e| AuthError::InvalidEmail(e.0.to_owned()))?;
        self.auth.check_strength(&email, &password).await?;
        // Registration hashes a password too: one address gets the same share as for logins.
        let _in_flight = self.auth.throttle.enter(ip).ok_or(AuthError::Busy)?;
        let hash = self.auth.hasher.hash(&password).await?;
        let hidden = self.auth.config.require_email_verification;
        match self
            .auth
            .create_user(email.clone(), hash, Vec::new(), false)
            .await
        {
            Ok(user) => {
                self.audit_own(&user.id, ip, "register", Outcome::Success, None)
                    .await;
                self.mail_link(Purpose::VerifyEmail, &user, ip).await?;
                Ok(if hidden {
                    Registered::Accepted
                } else {
                    Registered::Created(user.into())
                })
            }
            Err(AuthError::EmailTaken) if hidden => {
                let admission = self
                    .gate
                    .admit(MailKind::AlreadyRegistered, email.as_str(), ip)
                    .await?;
                if !admission.sent {
                    return Ok(Registered::Accepted);
                }
                self.mailer.send(Mail {
                    to: email.as_str().to_owned(),
                    subject: "Someone tried to register with your address".into(),
                    text: "Hello,\r\n\r\nSomeone (perhaps you) tried to create an account with \
                           this address, which already has one. Nothing was changed. If it was \
                           you, sign in instead, or reset your password from the sign-in page.\r\n"
                        .into(),
                });
                Ok(Registered::Accepted)
            }
            Err(e) => Err(e),
        }
    }

    /// Sends the signed-in user a new verification link unless the address is already
    /// verified or the mail ration says no; which it was, and when another could go. (Only
    /// the account's own holder learns this.)
    pub async fn resend_verification(&self, user_id: &str, ip: &str) -> Result<Resent, AuthError> {
        let Some(user) = self.auth.store.user_by_id(user_id).await? else {
            return Err(AuthError::NotFound);
        };
        if user.email_verified {
            return Ok(Resent::AlreadyVerified);
        }
        let admission = self.mail_link(Purpose::VerifyEmail, &user, ip).await?;
        Ok(match admission.sent {
            true => Resent::Sent {
                next_in_secs: admission.next_in_secs,
            },
            false => Resent::Held {
                next_in_secs: admission.next_in_secs,
            },
        })
    }

    /// Resend for someone who is not signed in and lost the link (the account cannot sign in
    /// before it is confirmed): answered at once, whatever the address, and done in the
    /// background, so neither the answer nor its timing tells whether the account exists. The
    /// mail ration applies, as for forgot-password.
    pub fn resend_verification_to(self: &Arc<Self>, email: String, ip: String) {
        let this = Arc::clone(self);
        self.background.spawn(async move {
            let user = match Email::parse(&email) {
                Ok(email) => this.auth.store.user_by_email(email.as_str()).await,
                Err(_) => Ok(None),
            };
            let result = match user {
                Ok(Some(user)) if !user.email_verified => this
                    .mail_link(Purpose::VerifyEmail, &user, &ip)
                    .await
                    .map(|_| ()),
                Ok(_) => Ok(()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "could not resend a verification mail");
            }
        });
    }

    /// Consumes a verification token and marks the address verified.
    pub async fn verify_email(&self, token: &str, ip: &str) -> Result<(), AuthError> {
        let claims = self.check(Purpose::VerifyEmail, token)?;
        let email = claims.email.clone().ok_or(AuthError::InvalidToken)?;
        self.consume(Purpose::VerifyEmail, &claims).await?;
        // The link names the address it was sent to: after an address change it verifies nothing.
        if !self
            .auth
            .store
            .mark_email_verified(&claims.sub, &email, self.auth.clock.now())
            .await?
        {
            return Err(AuthError::InvalidToken);
        }
        self.audit_own(&claims.sub, ip, "email_verified", Outcome::Success, None)
            .await;
        Ok(())
    }

    /// Starts a password reset in the background and returns at once, whether or not the
    /// account exists: the answer and its timing are the same either way. The mail ration
    /// applies (one reset mail a minute per mailbox, and the hourly limits).
    pub fn forgot_password(self: &Arc<Self>, email: String, ip: String) {
        let this = Arc::clone(self);
        self.background.spawn(async move {
            if let Err(e) = this.send_reset(&email, &ip).await {
                tracing::error!(error = %e, "could not send a password reset mail");
            }
        });
    }

    async fn send_reset(&self, email: &str, ip: &str) -> Result<(), AuthError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let Some(user) = self.auth.store.user_by_email(email.as_str()).await? else {
            return Ok(());
        };
        // A disabled account gets no link: a reset must not be a way back in.
        if self.auth.store.is_disabled(&user.id).await? {
            return Ok(());
        }
        if !self.mail_link(Purpose::Reset, &user, ip).await?.sent {
            return Ok(());
        }
        self.auth
            .audit()
            .record(AuditEvent {
                actor: None,
                subject: Some(&user.id),
                ip: Some(ip),
                event: "password_reset_requested",
                outcome: Outcome::Success,
                detail: None,
            })
            .await;
        Ok(())
    }

    /// The hash of `new_password` once it passes the strength policy for `user`'s address.
    async fn strong_hash(
        &self,
        user: &UserRow,
        new_password: &Password,
    ) -> Result<String, AuthError> {
        let email = Email::parse(&user.email).map_err(|e| AuthError::Internal(e.to_string()))?;
        self.auth.check_strength(&email, new_password).await?;
        Ok(self.auth.hasher.hash(new_password).await?)
    }

    /// The new hash takes hold in one transaction (see `Store::set_password`): a cut-off refuses
    /// every earlier token of the user, whatever state its session is in; the sessions but
    /// `keep` end for `why`; the account's unused reset links are retired; and `spends`, the
    /// reset token of this change, is used. Returns how many sessions ended.
    async fn replace_password(
        &self,
        user_id: &str,
        hash: &str,
        spends: Option<&Claims>,
        keep: Option<&str>,
        why: &str,
    ) -> Result<usize, AuthError> {
        let auth = &self.auth;
        let cutoff = auth.cutoff_now();
        let spent = spends.map(|claims| jti_hash(&claims.jti));
        let update = PasswordUpdate {
            hash,
            spends: spent.as_deref(),
            links: Purpose::Reset.name(),
            cutoff,
            end: EndSessions {
                user_id,
                keep,
                now: auth.clock.now(),
                reason: why,
            },
        };
        let Some(ended) = auth.store.set_password(&update).await? else {
            // The link was used meanwhile (or never existed): nothing changed.
            let jti = spent.unwrap_or_default();
            return Err(
                match auth
                    .store
                    .why_not_consumed(&jti, Purpose::Reset.name(), user_id)
                    .await?
                {
                    Consumed::AlreadyUsed => AuthError::TokenUsed,
                    _ => AuthError::InvalidToken,
                },
            );
        };
        auth.revoke_user(user_id, cutoff);
        auth.revoke_sessions(&ended);
        Ok(ended.len())
    }

    /// Consumes a reset token, sets the new password and ends every session of the account.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: Password,
        ip: &str,
    ) -> Result<(), AuthError> {
        let claims = self.check(Purpose::Reset, token)?;
        let user = self
            .auth
            .store
            .user_by_id(&claims.sub)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        // A link mailed before the account was disabled must not be a way back in either.
        if self.auth.store.is_disabled(&user.id).await? {
            return Err(AuthError::AccountDisabled);
        }
        // Strength and hashing before the token is spent: a weak password or a busy pool must
        // not burn the link.
        let hash = self.strong_hash(&user, &new_password).await?;
        let ended = self
            .replace_password(&user.id, &hash, Some(&claims), None, reason::PASSWORD_RESET)
            .await?;
        tracing::info!(user_id = %user.id, ended, "password reset");
        self.audit_own(
            &user.id,
            ip,
            "password_reset",
            Outcome::Success,
            Some(format!("{ended} sessions ended")),
        )
        .await;
        Ok(())
    }

    /// Changes the password of a signed-in user after checking the current one (throttled like
    /// a login), then ends every other session of the account. Every earlier token is cut off,
    /// this session's too: the answer is this session's new access token.
    pub async fn change_password(
        &self,
        user_id: &str,
        current_session: &str,
        current_password: Password,
        new_password: Password,
        ip: &str,
    ) -> Result<(String, i64), AuthError> {
        let auth = &self.auth;
        let user = auth
            .store
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let now = auth.clock.now();
        // Counted per session, never under the login lockout: an attacker who keeps the
        // account locked for sign-ins must not stop its signed-in owner from changing it.
        let attempt = Attempt::Session(current_session);
        auth.throttle
            .check(&attempt, now)
            .map_err(AuthError::Throttled)?;
        if auth
            .hasher
            .verify(&current_password, Some(&user.password_hash))
            .await?
            == Verified::No
        {
            auth.throttle.record_failure(&attempt, now);
            self.audit_own(
                user_id,
                ip,
                "password_change",
                Outcome::Failure,
                Some("wrong current password".into()),
            )
            .await;
            return Err(AuthError::WrongPassword);
        }
        auth.throttle.record_success(&attempt);
        let hash = self.strong_hash(&user, &new_password).await?;
        let ended = self
            .replace_password(
                user_id,
                &hash,
                None,
                Some(current_session),
                reason::PASSWORD_CHANGED,
            )
            .await?;
        self.audit_own(
            user_id,
            ip,
            "password_change",
            Outcome::Success,
            Some(format!("{ended} other sessions ended")),
        )
        .await;
        auth.reissue_access(user_id, current_session).await
    }
}
