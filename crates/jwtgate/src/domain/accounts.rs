//! Owns the account flows around passwords and addresses: registration, password change,
//! forgot/reset, email verification (and its resend), changing the sign-in address (with its
//! undo), and deleting the account. Must not import axum or sqlx. The single-use links these
//! flows mail are `domain::links`.

use std::sync::Arc;

use jwtgate_verify::Claims;

use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::background::Background;
use crate::domain::core::Core;
use crate::domain::email::Email;
use crate::domain::error::AuthError;
use crate::domain::links::{LinkFor, Links, Purpose};
use crate::domain::mail::{Admission, Mail, MailKind};
use crate::domain::password::{self, Password, PasswordHasher, Verified, WeakPassword};
use crate::domain::plans::is_valid_name;
use crate::domain::reason::EndReason;
use crate::domain::sessions::User;
use crate::shared::throttle::{Attempt, LoginThrottle};
use crate::store::admin::Guarded;
use crate::store::{
    Changed, EmailChange, EndSessions, PasswordUpdate, StoreError, Unique, UserRow,
};

/// [`check_strength`] for the password of `email`, off the async workers (zxcvbn costs
/// milliseconds on long inputs).
async fn check_strength_for(email: &Email, password: &Password) -> Result<(), AuthError> {
    let (pw, address) = (password.clone(), email.as_str().to_owned());
    tokio::task::spawn_blocking(move || {
        let local = address.split('@').next().unwrap_or_default();
        password::check_strength(&pw, &[address.as_str(), local, "jwtgate"])
    })
    .await
    .map_err(|e| AuthError::Internal(e.to_string()))?
    .map_err(|e: WeakPassword| AuthError::WeakPassword(e.to_string()))
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
    core: Arc<Core>,
    hasher: PasswordHasher,
    throttle: Arc<LoginThrottle>,
    /// The single-use links these flows mail (and the mailer and ration they go through).
    links: Links,
    /// Work a request starts and does not wait for; shutdown (and tests) wait for it.
    background: Background,
    /// Registration (and an address change) stops revealing taken addresses.
    require_email_verification: bool,
}

impl Accounts {
    pub fn new(
        core: Arc<Core>,
        hasher: PasswordHasher,
        throttle: Arc<LoginThrottle>,
        links: Links,
        background: Background,
        require_email_verification: bool,
    ) -> Self {
        Self {
            core,
            hasher,
            throttle,
            links,
            background,
            require_email_verification,
        }
    }

    /// The background work of these flows (mail delivery included).
    pub fn background(&self) -> &Background {
        &self.background
    }

    /// Mails `user` a link of `purpose` about their own address, within the mail ration.
    async fn mail_link(
        &self,
        purpose: Purpose,
        user: &UserRow,
        client_ip: &str,
    ) -> Result<Admission, AuthError> {
        let link = LinkFor {
            user_id: &user.id,
            email: &user.email,
            about: None,
        };
        self.links.mail(purpose, &link, client_ip).await
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
        self.core
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
        check_strength_for(&email, &password).await?;
        // Registration hashes a password too: one address gets the same share as for logins.
        let _in_flight = self.throttle.enter(ip).ok_or(AuthError::Busy)?;
        let hash = self.hasher.hash(&password).await?;
        let hidden = self.require_email_verification;
        match self
            .core
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
                    .links
                    .gate()
                    .admit(MailKind::AlreadyRegistered, email.as_str(), ip)
                    .await?;
                if !admission.sent {
                    return Ok(Registered::Accepted);
                }
                self.links.mailer().send(Mail {
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

    /// An account made by an operator (`jwtgate user add`, and test suites): the strength
    /// policy applies, the roles are as given (each a valid name), and with `verified` the
    /// operator vouches for the address, which then needs no confirmation mail.
    pub async fn add_user(
        &self,
        email: &str,
        password: Password,
        roles: Vec<String>,
        verified: bool,
    ) -> Result<User, AuthError> {
        let email = Email::parse(email).map_err(|e| AuthError::InvalidEmail(e.0.to_owned()))?;
        if let Some(bad) = roles.iter().find(|r| !is_valid_name(r)) {
            return Err(AuthError::Internal(format!(
                "role {bad:?} is not a valid name (a lower-case letter, then up to 31 of a-z, 0-9, _ or -)"
            )));
        }
        check_strength_for(&email, &password).await?;
        let hash = self.hasher.hash(&password).await?;
        let user = self.core.create_user(email, hash, roles, verified).await?;
        Ok(user.into())
    }

    /// Sends the signed-in user a new verification link unless the address is already
    /// verified or the mail ration says no; which it was, and when another could go. (Only
    /// the account's own holder learns this.)
    pub async fn resend_verification(&self, user_id: &str, ip: &str) -> Result<Resent, AuthError> {
        let Some(user) = self.core.store().user_by_id(user_id).await? else {
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
                Ok(email) => this.core.store().user_by_email(email.as_str()).await,
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
        let claims = self.links.check(Purpose::VerifyEmail, token)?;
        let email = claims.email.clone().ok_or(AuthError::InvalidToken)?;
        self.links.consume(Purpose::VerifyEmail, &claims).await?;
        // The link names the address it was sent to: after an address change it verifies nothing.
        if !self
            .core
            .store()
            .mark_email_verified(&claims.sub, &email, self.core.clock().now())
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
        let Some(user) = self.core.store().user_by_email(email.as_str()).await? else {
            return Ok(());
        };
        // A disabled account gets no link: a reset must not be a way back in.
        if self.core.store().is_disabled(&user.id).await? {
            return Ok(());
        }
        if !self.mail_link(Purpose::Reset, &user, ip).await?.sent {
            return Ok(());
        }
        self.core
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
        check_strength_for(&email, new_password).await?;
        Ok(self.hasher.hash(new_password).await?)
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
        why: EndReason,
    ) -> Result<usize, AuthError> {
        let core = &self.core;
        let cutoff = core.cutoff_now();
        let spent = spends.map(Links::spent_by);
        let update = PasswordUpdate {
            hash,
            spends: spent.as_deref(),
            links: Purpose::Reset.name(),
            cutoff,
            end: EndSessions {
                user_id,
                keep,
                now: core.clock().now(),
                reason: why.as_str(),
            },
        };
        let Some(ended) = core.store().set_password(&update).await? else {
            // The link was used meanwhile (or never existed): nothing changed.
            return Err(match spends {
                Some(claims) => self.links.why_not_spent(Purpose::Reset, claims).await,
                None => AuthError::InvalidToken,
            });
        };
        core.revoke_user(user_id, cutoff);
        core.revoke_sessions(&ended);
        Ok(ended.len())
    }

    /// Consumes a reset token, sets the new password and ends every session of the account.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: Password,
        ip: &str,
    ) -> Result<(), AuthError> {
        let claims = self.links.check(Purpose::Reset, token)?;
        let user = self
            .core
            .store()
            .user_by_id(&claims.sub)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        // A link mailed before the account was disabled must not be a way back in either.
        if self.core.store().is_disabled(&user.id).await? {
            return Err(AuthError::AccountDisabled);
        }
        // Strength and hashing before the token is spent: a weak password or a busy pool must
        // not burn the link.
        let hash = self.strong_hash(&user, &new_password).await?;
        let ended = self
            .replace_password(
                &user.id,
                &hash,
                Some(&claims),
                None,
                EndReason::PasswordReset,
            )
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

    /// The signed-in holder of `user` proves it again with the current password, counted per
    /// session, never under the login lockout: an attacker who keeps the account locked for
    /// sign-ins must not stop its signed-in owner from changing (or deleting) it. A wrong one
    /// is audited as a failed `event`.
    async fn confirm_password(
        &self,
        user: &UserRow,
        session: &str,
        password: &Password,
        ip: &str,
        event: &'static str,
    ) -> Result<(), AuthError> {
        let core = &self.core;
        let now = core.clock().now();
        let attempt = Attempt::Session(session);
        self.throttle
            .check(&attempt, now)
            .await
            .map_err(AuthError::Throttled)?;
        if self
            .hasher
            .verify(password, Some(&user.password_hash))
            .await?
            == Verified::No
        {
            self.throttle.record_failure(&attempt, now).await;
            let detail = Some("wrong current password".into());
            self.audit_own(&user.id, ip, event, Outcome::Failure, detail)
                .await;
            return Err(AuthError::WrongPassword);
        }
        self.throttle.record_success(&attempt).await;
        Ok(())
    }

    async fn account(&self, user_id: &str) -> Result<UserRow, AuthError> {
        self.core
            .store()
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::NotFound)
    }

    /// Changes the password of a signed-in user after checking the current one, then ends every
    /// other session of the account. Every earlier token is cut off, this session's too: the
    /// answer is this session's new access token.
    pub async fn change_password(
        &self,
        user_id: &str,
        current_session: &str,
        current_password: Password,
        new_password: Password,
        ip: &str,
    ) -> Result<(String, i64), AuthError> {
        let user = self.account(user_id).await?;
        self.confirm_password(
            &user,
            current_session,
            &current_password,
            ip,
            "password_change",
        )
        .await?;
        let hash = self.strong_hash(&user, &new_password).await?;
        let ended = self
            .replace_password(
                user_id,
                &hash,
                None,
                Some(current_session),
                EndReason::PasswordChanged,
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
        self.core.reissue_access(user_id, current_session).await
    }

    /// Starts a change of the signed-in user's sign-in address: the password again, then a
    /// confirm link to the new address (24 hours). Nothing changes until it is used. A taken
    /// address is `EmailTaken` when registration would say so too (verification mode off);
    /// with verification on, the answer is the same and no link goes out.
    pub async fn change_email(
        &self,
        user_id: &str,
        session: &str,
        password: Password,
        new_email: &str,
        ip: &str,
    ) -> Result<(), AuthError> {
        let new = Email::parse(new_email).map_err(|e| AuthError::InvalidEmail(e.0.to_owned()))?;
        let user = self.account(user_id).await?;
        if new.as_str() == user.email {
            return Err(AuthError::InvalidEmail(
                "that is already your sign-in address".into(),
            ));
        }
        self.confirm_password(&user, session, &password, ip, "email_change")
            .await?;
        if self
            .core
            .store()
            .user_by_email(new.as_str())
            .await?
            .is_some()
        {
            if self.require_email_verification {
                return Ok(());
            }
            return Err(AuthError::EmailTaken);
        }
        let link = LinkFor {
            user_id,
            email: new.as_str(),
            about: Some(&user.email),
        };
        self.links.mail(Purpose::ChangeEmail, &link, ip).await?;
        self.audit_own(
            user_id,
            ip,
            "email_change_requested",
            Outcome::Success,
            None,
        )
        .await;
        Ok(())
    }

    /// Uses a confirm link: the new address becomes the sign-in address (proven, since the link
    /// reached it), every earlier token is cut off (they name the old one), and the old address
    /// is told, with a link that undoes the change for 72 hours. That notice is never rationed.
    pub async fn confirm_email_change(&self, token: &str, ip: &str) -> Result<(), AuthError> {
        let claims = self.links.check(Purpose::ChangeEmail, token)?;
        let new = claims.email.clone().ok_or(AuthError::InvalidToken)?;
        let core = &self.core;
        let cutoff = core.cutoff_now();
        let spent = Links::spent_by(&claims);
        let change = EmailChange {
            user_id: &claims.sub,
            email: &new,
            spends: &spent,
            links: Purpose::ChangeEmail.name(),
            now: core.clock().now(),
            cutoff,
        };
        let old = match core.store().change_email(&change).await {
            Ok(Changed::Done { old }) => old,
            Ok(Changed::LinkNotSpendable) => {
                return Err(self
                    .links
                    .why_not_spent(Purpose::ChangeEmail, &claims)
                    .await);
            }
            Ok(Changed::NoSuchUser) => return Err(AuthError::InvalidToken),
            Err(StoreError::Conflict(Unique::Email)) => return Err(AuthError::EmailTaken),
            Err(e) => return Err(e.into()),
        };
        core.revoke_user(&claims.sub, cutoff);
        let notice = LinkFor {
            user_id: &claims.sub,
            email: &old,
            about: Some(&new),
        };
        self.links.mail_notice(Purpose::UndoEmail, &notice).await?;
        self.audit_own(&claims.sub, ip, "email_changed", Outcome::Success, None)
            .await;
        Ok(())
    }

    /// Uses an undo link from the old address: the address comes back, every session ends
    /// (`email_change_undone`), every token is cut off, the password stops working (whoever
    /// made the change knew it) and the restored address gets a reset link to choose a new one.
    pub async fn undo_email_change(&self, token: &str, ip: &str) -> Result<(), AuthError> {
        let claims = self.links.check(Purpose::UndoEmail, token)?;
        let old = claims.email.clone().ok_or(AuthError::InvalidToken)?;
        let core = &self.core;
        let cutoff = core.cutoff_now();
        let now = core.clock().now();
        let spent = Links::spent_by(&claims);
        let undo = EmailChange {
            user_id: &claims.sub,
            email: &old,
            spends: &spent,
            links: Purpose::UndoEmail.name(),
            now,
            cutoff,
        };
        let end = EndSessions {
            user_id: &claims.sub,
            keep: None,
            now,
            reason: EndReason::EmailChangeUndone.as_str(),
        };
        let ended = match core.store().undo_email_change(&undo, &end).await {
            Ok(Some(ended)) => ended,
            Ok(None) => return Err(self.links.why_not_spent(Purpose::UndoEmail, &claims).await),
            Err(StoreError::Conflict(Unique::Email)) => return Err(AuthError::EmailTaken),
            Err(e) => return Err(e.into()),
        };
        core.revoke_user(&claims.sub, cutoff);
        core.revoke_sessions(&ended);
        let reset = LinkFor {
            user_id: &claims.sub,
            email: &old,
            about: None,
        };
        self.links.mail_notice(Purpose::Reset, &reset).await?;
        let detail = Some(format!("{} sessions ended", ended.len()));
        self.audit_own(
            &claims.sub,
            ip,
            "email_change_undone",
            Outcome::Success,
            detail,
        )
        .await;
        Ok(())
    }

    /// Deletes the signed-in user's account after the password again: every session ends
    /// (`account_deleted`), every token is refused, and the row keeps no personal data (see
    /// `Store::delete_user`). The audit log keeps the event, with the id and no address. The
    /// last enabled administrator cannot delete themself.
    pub async fn delete_account(
        &self,
        user_id: &str,
        session: &str,
        password: Password,
        ip: &str,
    ) -> Result<(), AuthError> {
        let user = self.account(user_id).await?;
        self.confirm_password(&user, session, &password, ip, "account_deleted")
            .await?;
        let core = &self.core;
        let cutoff = core.cutoff_now();
        let end = EndSessions {
            user_id,
            keep: None,
            now: core.clock().now(),
            reason: EndReason::AccountDeleted.as_str(),
        };
        match core.store().delete_user(&end, cutoff).await? {
            Guarded::Done(ended) => {
                core.revoke_user(user_id, cutoff);
                core.revoke_sessions(&ended);
            }
            Guarded::NotFound => return Err(AuthError::NotFound),
            Guarded::LastAdmin => return Err(AuthError::LastAdmin),
        }
        tracing::info!(user_id = %user_id, "account deleted");
        self.audit_own(user_id, ip, "account_deleted", Outcome::Success, None)
            .await;
        Ok(())
    }
}
