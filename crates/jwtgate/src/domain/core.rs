//! Owns `Core`: what every service of the domain shares and nothing else: the store, the
//! clock, the keys and the verifier, this node's revocations and the token settings, with the
//! few rules all of them apply the same way: minting an access token, ending sessions, cutting
//! a user's tokens off, the CSRF token, creating an account. Must not import axum or sqlx.

use std::sync::Arc;

use jwtgate_verify::{ACCESS_TOKEN_TYP, Audience, Claims, Verifier};

use crate::clock::Clock;
use crate::domain::audit::Audit;
use crate::domain::email::Email;
use crate::domain::error::AuthError;
use crate::domain::plans::DEFAULT_PLAN;
use crate::domain::reason::EndReason;
use crate::domain::signing::SigningKeys;
use crate::domain::tokens::{self, RefreshToken};
use crate::shared::keys::Secrets;
use crate::shared::revocation::{Restored, Revocations};
use crate::store::{EndSessions, Store, UserRow};

/// The `client_id` claim (RFC 9068 §2.2) of tokens issued by jwtgate's own login endpoint.
pub const CLIENT_ID: &str = "jwtgate";

/// How long an ended or expired session stays in the database (seconds): 7 days.
pub const DEAD_SESSION_RETENTION: i64 = 7 * 24 * 3600;

/// What access tokens say and how long they live.
/// Who an access token is for: the web client, or an app with the scope it was granted (the
/// token's `client_id` and `scope`; an app sees the address only with the `email` scope).
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub client_id: &'a str,
    pub scope: Option<&'a str>,
}

impl Recipient<'_> {
    pub const WEB: Recipient<'static> = Recipient {
        client_id: CLIENT_ID,
        scope: None,
    };

    fn sees_email(&self) -> bool {
        self.client_id == CLIENT_ID
            || self
                .scope
                .is_some_and(|s| s.split(' ').any(|v| v == "email"))
    }

    fn scope_claim(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut extra = serde_json::Map::new();
        if let Some(scope) = self.scope {
            extra.insert("scope".into(), scope.into());
        }
        extra
    }
}

#[derive(Debug, Clone)]
pub struct TokenRules {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: i64,
    pub leeway: i64,
}

#[derive(Debug)]
pub struct Core {
    store: Store,
    clock: Clock,
    keys: Secrets,
    signing: Arc<SigningKeys>,
    verifier: Arc<Verifier>,
    revocations: Revocations,
    rules: TokenRules,
}

impl Core {
    pub fn new(
        store: Store,
        clock: Clock,
        keys: Secrets,
        signing: Arc<SigningKeys>,
        verifier: Arc<Verifier>,
        revocations: Revocations,
        rules: TokenRules,
    ) -> Self {
        Self {
            store,
            clock,
            keys,
            signing,
            verifier,
            revocations,
            rules,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn rules(&self) -> &TokenRules {
        &self.rules
    }

    /// The signing keys: which signs, which the JWKS publishes, rotation.
    pub fn signing(&self) -> &Arc<SigningKeys> {
        &self.signing
    }

    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    /// The audit log (shares this server's store and clock).
    pub fn audit(&self) -> Audit {
        Audit::new(self.store.clone(), self.clock.clone())
    }

    /// Readiness: the database answers.
    pub async fn ready(&self) -> Result<(), AuthError> {
        Ok(self.store.ping().await?)
    }

    /// Closes the database pool (shutdown).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Puts back every revocation that may still matter (see `Revocations::restore`).
    /// This node's revocations (the view, and on PostgreSQL how far it follows the log).
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    pub async fn restore_revocations(&self) -> Result<Restored, AuthError> {
        Ok(self
            .revocations
            .restore(&self.store, self.clock.now())
            .await?)
    }

    pub fn prune(&self) {
        self.revocations.prune(self.clock.now());
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
        // Used codes are kept a day past their expiry, so a late replay still ends its session.
        self.store.prune_codes(now - 24 * 3600).await?;
        // Log entries no unexpired token can match (a minute of clock skew between nodes).
        self.store
            .prune_revocations(now - self.revocations.horizon() - 60)
            .await?;
        Ok((sessions, one_time, mails))
    }

    /// A user-wide cut-off for "now": with it, every token of a user minted up to this second
    /// is refused. The next token minted for the user carries `iat = max(now, cut-off)` (see
    /// [`Core::mint_access`]), so a refresh in this same second still passes.
    pub fn cutoff_now(&self) -> i64 {
        self.clock.now() + 1
    }

    /// Refuses every token of `user_id` issued before `cutoff` in this process, once the store
    /// holds the cut-off (after the commit: a change the store refused, such as the last
    /// administrator's, must cut nobody off).
    pub fn revoke_user(&self, user_id: &str, cutoff: i64) {
        self.revocations.user(user_id, cutoff, self.clock.now());
    }

    /// Revokes the access tokens of sessions the store has just ended.
    pub fn revoke_sessions(&self, ended: &[String]) {
        let now = self.clock.now();
        for sid in ended {
            self.revocations.session(sid, now);
        }
    }

    /// Ends a session and revokes its access tokens at once.
    pub async fn end_session(&self, session_id: &str, why: EndReason) -> Result<(), AuthError> {
        let now = self.clock.now();
        // Revoke first: even if the write fails, this process stops accepting the tokens.
        self.revocations.session(session_id, now);
        self.store
            .end_session(session_id, now, why.as_str())
            .await?;
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
        why: EndReason,
        cut_off: bool,
    ) -> Result<usize, AuthError> {
        let cutoff = cut_off.then(|| self.cutoff_now());
        let end = EndSessions {
            user_id,
            keep,
            now: self.clock.now(),
            reason: why.as_str(),
        };
        let ended = self.store.end_user_sessions(&end, cutoff).await?;
        if let Some(cutoff) = cutoff {
            self.revoke_user(user_id, cutoff);
        }
        self.revoke_sessions(&ended);
        Ok(ended.len())
    }

    /// An access token for `user` in session `session_id`.
    pub fn mint_access(
        &self,
        user: &UserRow,
        session_id: &str,
        to: Recipient<'_>,
        now: i64,
    ) -> Result<String, AuthError> {
        // A user-wide cut-off ("sign out everywhere") must not reject tokens minted after it.
        let iat = self
            .revocations
            .user_cutoff(&user.id)
            .map_or(now, |cutoff| cutoff.max(now));
        let rules = &self.rules;
        let claims = Claims {
            iss: rules.issuer.clone(),
            sub: user.id.clone(),
            aud: Audience::One(rules.audience.clone()),
            exp: iat + rules.access_ttl,
            iat,
            nbf: Some(now),
            jti: tokens::random_id(),
            sid: Some(session_id.to_owned()),
            roles: user.roles.clone(),
            plan: Some(user.plan.clone().unwrap_or_else(|| DEFAULT_PLAN.to_owned())),
            email: to.sees_email().then(|| user.email.clone()),
            email_verified: to.sees_email().then_some(user.email_verified),
            client_id: Some(to.client_id.to_owned()),
            extra: to.scope_claim(),
        };
        self.sign(ACCESS_TOKEN_TYP, &claims)
    }

    /// Signs `claims` as a token of type `typ` with the key that signs access tokens now (access
    /// tokens, service tokens, the mailed links' tokens).
    pub fn sign(&self, typ: &str, claims: &Claims) -> Result<String, AuthError> {
        self.signing
            .signer()
            .map_err(|e| AuthError::Internal(format!("signing failed: {e}")))?
            .sign(typ, claims)
            .map_err(|e| AuthError::Internal(format!("signing failed: {e}")))
    }

    /// A fresh access token for a live session of `user_id` (after a cut-off that the session
    /// survives, such as the caller's own password change), and its lifetime.
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
        let token = self.mint_access(&user, session_id, Recipient::WEB, self.clock.now())?;
        Ok((token, self.rules.access_ttl))
    }

    /// Whether a user-wide cut-off newer than `now` exists: tokens minted for the user must
    /// then come from a fresh read of the account (its roles may just have changed).
    pub fn cut_off_since(&self, user_id: &str, now: i64) -> bool {
        self.revocations
            .user_cutoff(user_id)
            .is_some_and(|cutoff| cutoff > now)
    }

    /// The successor of a refresh token (a pure function of it: see `tokens`).
    pub fn refresh_successor(&self, presented: &RefreshToken) -> RefreshToken {
        tokens::refresh_successor(&self.keys.refresh, presented)
    }

    pub fn csrf_token(&self, session_id: &str) -> String {
        tokens::csrf_token(&self.keys.csrf, session_id)
    }

    pub fn csrf_matches(&self, session_id: &str, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| tokens::csrf_matches(&self.keys.csrf, session_id, p))
    }

    /// A device token for `account` (see `tokens::device_token`).
    pub fn device_token(&self, account: &str, now: i64) -> String {
        tokens::device_token(&self.keys.device, account, now)
    }

    /// The device nonce of a valid device token for `account`.
    pub fn device_nonce(&self, token: &str, account: &str, now: i64) -> Option<String> {
        tokens::device_nonce(&self.keys.device, token, account, now)
    }

    /// Creates an account with an already computed hash (registration, and `jwtgate user add`,
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
}
