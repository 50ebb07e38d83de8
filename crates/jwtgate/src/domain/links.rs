//! Owns the single-use links jwtgate mails: their purposes, minting, checking, spending and
//! mailing. Must not import axum or sqlx.
//!
//! A link carries a JWT with its own `typ` (`reset+jwt`, `verify-email+jwt`,
//! `change-email+jwt`, `undo-email+jwt`) and its own audience (the endpoint that consumes it,
//! never the API's), signed with the server's keys through `jwtgate-verify` and checked by
//! sibling verifiers, so none can stand in for an access token or for another kind of link. It
//! is single-use because the SHA-256 of its `jti` is stored when minted and marked used by one
//! atomic UPDATE when consumed; a new password retires every unused reset link of the account in
//! the same transaction. The siblings have no revocation view: the cut-off that a password
//! change, a role change or a disable puts on the user's access tokens would otherwise also
//! refuse a link mailed a moment later in the same second, and the database already says which
//! links are spent.
//!
//! Links open pages of the web client (`/#/reset-password?token=...`) that only show a button:
//! a mail scanner that opens them consumes nothing; only the POSTs do.

use std::sync::Arc;

use aws_lc_rs::digest;
use jwtgate_verify::{Audience, Claims, Policy, Verifier};

use crate::domain::core::Core;
use crate::domain::error::AuthError;
use crate::domain::mail::{Admission, Mail, MailGate, MailKind, Mailer};
use crate::domain::tokens;
use crate::store::Consumed;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Choose a new password (30 minutes).
    Reset,
    /// Prove the address (24 hours).
    VerifyEmail,
    /// Prove the new address of an address change (24 hours); `email` is the new address.
    ChangeEmail,
    /// Undo an address change from the old address (72 hours); `email` is the old address.
    UndoEmail,
}

impl Purpose {
    const ALL: [Purpose; 4] = [
        Purpose::Reset,
        Purpose::VerifyEmail,
        Purpose::ChangeEmail,
        Purpose::UndoEmail,
    ];

    pub fn typ(self) -> &'static str {
        match self {
            Purpose::Reset => "reset+jwt",
            Purpose::VerifyEmail => "verify-email+jwt",
            Purpose::ChangeEmail => "change-email+jwt",
            Purpose::UndoEmail => "undo-email+jwt",
        }
    }

    /// The name stored with the token (`one_time_tokens.purpose`).
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Reset => "reset",
            Purpose::VerifyEmail => "verify_email",
            Purpose::ChangeEmail => "change_email",
            Purpose::UndoEmail => "undo_email",
        }
    }

    fn kind(self) -> MailKind {
        match self {
            Purpose::Reset => MailKind::Reset,
            Purpose::VerifyEmail => MailKind::VerifyEmail,
            Purpose::ChangeEmail => MailKind::ChangeEmail,
            Purpose::UndoEmail => MailKind::EmailChanged,
        }
    }

    /// The longest `ttl` of any link: how long a key that signed links must still verify.
    pub const LONGEST_TTL: i64 = 72 * 3600;

    pub fn ttl(self) -> i64 {
        match self {
            Purpose::Reset => 30 * 60,
            Purpose::VerifyEmail | Purpose::ChangeEmail => 24 * 3600,
            Purpose::UndoEmail => 72 * 3600,
        }
    }

    /// The `aud` of these tokens: the endpoint that consumes them, never the API's audience,
    /// so a verifier that checks only issuer and audience cannot take one for an access token.
    fn audience(self, issuer: &str) -> String {
        let endpoint = match self {
            Purpose::Reset => "/auth/password/reset",
            Purpose::VerifyEmail => "/auth/email/verify",
            Purpose::ChangeEmail => "/auth/email/change/confirm",
            Purpose::UndoEmail => "/auth/email/change/undo",
        };
        format!("{}{endpoint}", issuer.trim_end_matches('/'))
    }

    /// The web-client page the mailed link opens.
    fn page(self) -> &'static str {
        match self {
            Purpose::Reset => "reset-password",
            Purpose::VerifyEmail => "verify-email",
            Purpose::ChangeEmail => "confirm-email",
            Purpose::UndoEmail => "undo-email",
        }
    }

    /// The mail that carries `link`; `about` is the other address of an address change.
    fn mail(self, to: &str, link: &str, about: Option<&str>) -> Mail {
        let about = about.unwrap_or("another address");
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
            Purpose::ChangeEmail => (
                "Confirm your new sign-in address",
                format!(
                    "Hello,\r\n\r\nSomeone signed in to a jwtgate account asked to make this address \
                     its sign-in address. If it was you, open the link below and press the button on \
                     the page. It works once, for 24 hours.\r\n\r\n{link}\r\n\r\nIf it was not you, \
                     ignore this message: nothing changes.\r\n"
                ),
            ),
            Purpose::UndoEmail => (
                "Your sign-in address was changed",
                format!(
                    "Hello,\r\n\r\nThe sign-in address of your account was changed from this address \
                     to {about}. If that was you, there is nothing to do.\r\n\r\nIf it was not you, \
                     open the link below within 72 hours: it puts this address back, signs everyone \
                     out, and makes you choose a new password.\r\n\r\n{link}\r\n"
                ),
            ),
        };
        Mail {
            to: to.to_owned(),
            subject: subject.into(),
            text,
        }
    }
}

fn jti_hash(jti: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, jti.as_bytes())
        .as_ref()
        .to_vec()
}

/// Who a link is for and which address it is about.
#[derive(Debug, Clone, Copy)]
pub struct LinkFor<'a> {
    pub user_id: &'a str,
    /// The address the link names (its `email` claim), and the one it is mailed to.
    pub email: &'a str,
    /// The other address of an address change, named in the mail.
    pub about: Option<&'a str>,
}

/// Mints, checks, spends and mails single-use links.
#[derive(Debug)]
pub struct Links {
    core: Arc<Core>,
    mailer: Mailer,
    gate: MailGate,
    public_url: String,
    verifiers: [(Purpose, Verifier); 4],
}

impl Links {
    /// `public_url` is the base of the links (the web client's origin).
    pub fn new(core: Arc<Core>, mailer: Mailer, gate: MailGate, public_url: &str) -> Self {
        let c = core.rules().clone();
        let leeway = u32::try_from(c.leeway).unwrap_or(30);
        let verifiers = Purpose::ALL.map(|p| {
            let policy = Policy::new(c.issuer.clone(), p.audience(&c.issuer))
                .with_typ(p.typ())
                .with_leeway(leeway)
                .with_max_lifetime(u32::try_from(p.ttl()).unwrap_or(u32::MAX));
            (p, core.verifier().sibling(policy).without_revocation())
        });
        Self {
            core,
            mailer,
            gate,
            public_url: public_url.trim_end_matches('/').to_owned(),
            verifiers,
        }
    }

    pub fn gate(&self) -> &MailGate {
        &self.gate
    }

    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    async fn mint(&self, purpose: Purpose, link: &LinkFor<'_>) -> Result<String, AuthError> {
        let now = self.core.clock().now();
        let jti = tokens::random_id();
        let config = self.core.rules();
        let claims = Claims {
            iss: config.issuer.clone(),
            sub: link.user_id.to_owned(),
            aud: Audience::One(purpose.audience(&config.issuer)),
            exp: now + purpose.ttl(),
            iat: now,
            nbf: Some(now),
            jti: jti.clone(),
            sid: None,
            roles: Vec::new(),
            plan: None,
            email: Some(link.email.to_owned()),
            email_verified: None,
            client_id: None,
            extra: serde_json::Map::new(),
        };
        let token = self.core.sign(purpose.typ(), &claims)?;
        self.core
            .store()
            .insert_one_time(
                &jti_hash(&jti),
                purpose.name(),
                link.user_id,
                now,
                now + purpose.ttl(),
            )
            .await?;
        Ok(token)
    }

    /// Verifies a link's token of `purpose` (signature, `typ`, audience, expiry) without
    /// spending it.
    pub fn check(&self, purpose: Purpose, token: &str) -> Result<Arc<Claims>, AuthError> {
        let verifier = self
            .verifiers
            .iter()
            .find_map(|(p, v)| (*p == purpose).then_some(v))
            .ok_or(AuthError::InvalidToken)?;
        verifier
            .verify_at(token.trim(), self.core.clock().now())
            .map_err(|e| match e {
                jwtgate_verify::Error::Expired => AuthError::TokenExpired,
                other => {
                    tracing::debug!(reason = other.reason(), "single-use token rejected");
                    AuthError::InvalidToken
                }
            })
    }

    /// Marks the token used; exactly one caller ever succeeds.
    pub async fn consume(&self, purpose: Purpose, claims: &Claims) -> Result<(), AuthError> {
        let now = self.core.clock().now();
        match self
            .core
            .store()
            .consume_one_time(&jti_hash(&claims.jti), purpose.name(), &claims.sub, now)
            .await?
        {
            Consumed::Now => Ok(()),
            Consumed::AlreadyUsed => Err(AuthError::TokenUsed),
            Consumed::Unknown => Err(AuthError::InvalidToken),
        }
    }

    /// The `jti` hash a store transaction spends for this token (see `Store::set_password`),
    /// and what it means when it could not.
    pub fn spent_by(claims: &Claims) -> Vec<u8> {
        jti_hash(&claims.jti)
    }

    /// Why a token a transaction could not spend was not spendable.
    pub async fn why_not_spent(&self, purpose: Purpose, claims: &Claims) -> AuthError {
        match self
            .core
            .store()
            .why_not_consumed(&jti_hash(&claims.jti), purpose.name(), &claims.sub)
            .await
        {
            Ok(Consumed::AlreadyUsed) => AuthError::TokenUsed,
            Ok(_) => AuthError::InvalidToken,
            Err(e) => e.into(),
        }
    }

    /// Mints a link of `purpose` and mails it, when the mail ration allows (`client_ip` asked
    /// for it). Whether the mail went, and when the next could.
    pub async fn mail(
        &self,
        purpose: Purpose,
        link: &LinkFor<'_>,
        client_ip: &str,
    ) -> Result<Admission, AuthError> {
        let admission = self
            .gate
            .admit(purpose.kind(), link.email, client_ip)
            .await?;
        if admission.sent {
            self.send(purpose, link).await?;
        }
        Ok(admission)
    }

    /// Mints a link of `purpose` and mails it outside the ration: only for the notice that an
    /// account's address changed, which only a confirmed change (the password and the new
    /// mailbox) can cause, and which an exhausted budget must never silence.
    pub async fn mail_notice(&self, purpose: Purpose, link: &LinkFor<'_>) -> Result<(), AuthError> {
        self.send(purpose, link).await
    }

    async fn send(&self, purpose: Purpose, link: &LinkFor<'_>) -> Result<(), AuthError> {
        let token = self.mint(purpose, link).await?;
        let url = format!("{}/#/{}?token={token}", self.public_url, purpose.page());
        self.mailer.send(purpose.mail(link.email, &url, link.about));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Purpose;

    #[test]
    fn no_link_outlives_the_longest_ttl_keys_are_kept_for() {
        for purpose in Purpose::ALL {
            assert!(purpose.ttl() <= Purpose::LONGEST_TTL, "{purpose:?}");
        }
        assert!(Purpose::ALL.iter().any(|p| p.ttl() == Purpose::LONGEST_TTL));
    }
}
