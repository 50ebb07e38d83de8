//! The revocation view: which otherwise valid tokens must be refused right now.
//!
//! Owns [`RevocationView`]. Checked after the signature, in memory, O(1). It is shared (`Arc`)
//! and fed from outside: the jwtgate server on logout, role changes and theft detection, and
//! later a revocation feed between nodes. Entries carry the time after which they can no
//! longer matter (every token they could match has expired) and are pruned then.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use crate::{Claims, Error};

/// Revoked token ids, revoked sessions, and per-user "issued before" cut-offs.
#[derive(Debug, Default)]
pub struct RevocationView {
    /// Lets the common case (nothing revoked) skip the lock entirely.
    any: AtomicBool,
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// jti -> until.
    tokens: HashMap<String, i64>,
    /// sid -> until.
    sessions: HashMap<String, i64>,
    /// sub -> (cut-off, until): tokens with `iat < cut-off` are refused.
    users: HashMap<String, (i64, i64)>,
}

impl Inner {
    fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.sessions.is_empty() && self.users.is_empty()
    }
}

impl RevocationView {
    /// An empty view.
    #[must_use]
    pub fn new() -> RevocationView {
        RevocationView::default()
    }

    fn write(&self, change: impl FnOnce(&mut Inner)) {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        change(&mut inner);
        self.any.store(!inner.is_empty(), Ordering::Release);
    }

    /// Refuses the token with this `jti` until `until` (its `exp` plus leeway).
    pub fn revoke_token(&self, jti: &str, until: i64) {
        self.write(|inner| {
            let entry = inner.tokens.entry(jti.to_owned()).or_insert(until);
            *entry = (*entry).max(until);
        });
    }

    /// Refuses every token of session `sid` until `until` (the latest `exp` any of its access
    /// tokens can have, plus leeway).
    pub fn revoke_session(&self, sid: &str, until: i64) {
        self.write(|inner| {
            let entry = inner.sessions.entry(sid.to_owned()).or_insert(until);
            *entry = (*entry).max(until);
        });
    }

    /// Refuses every token of user `sub` issued before `cutoff` (`iat < cutoff`), until
    /// `until`. A later cut-off replaces an earlier one.
    ///
    /// Issuers must then mint that user's new tokens with `iat >= cutoff`
    /// (see [`RevocationView::user_cutoff`]), so a role change made at second T can set the
    /// cut-off to T + 1 and still let the next refresh, within that same second, succeed.
    pub fn revoke_user_tokens_issued_before(&self, sub: &str, cutoff: i64, until: i64) {
        self.write(|inner| {
            let entry = inner.users.entry(sub.to_owned()).or_insert((cutoff, until));
            *entry = (entry.0.max(cutoff), entry.1.max(until));
        });
    }

    /// The current cut-off for `sub`, if any: the earliest `iat` a new token may carry.
    #[must_use]
    pub fn user_cutoff(&self, sub: &str) -> Option<i64> {
        if !self.any.load(Ordering::Acquire) {
            return None;
        }
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.users.get(sub).map(|(cutoff, _)| *cutoff)
    }

    /// Whether the view refuses these claims.
    ///
    /// # Errors
    /// [`Error::Revoked`].
    pub fn check(&self, claims: &Claims) -> Result<(), Error> {
        if !self.any.load(Ordering::Acquire) {
            return Ok(());
        }
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let revoked = inner.tokens.contains_key(&claims.jti)
            || claims
                .sid
                .as_ref()
                .is_some_and(|sid| inner.sessions.contains_key(sid))
            || inner
                .users
                .get(&claims.sub)
                .is_some_and(|(cutoff, _)| claims.iat < *cutoff);
        if revoked { Err(Error::Revoked) } else { Ok(()) }
    }

    /// Forgets entries that can no longer match an unexpired token.
    pub fn prune(&self, now: i64) {
        self.write(|inner| {
            inner.tokens.retain(|_, until| *until >= now);
            inner.sessions.retain(|_, until| *until >= now);
            inner.users.retain(|_, (_, until)| *until >= now);
        });
    }

    /// How many entries the view holds (tokens, sessions and users).
    #[must_use]
    pub fn len(&self) -> usize {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        inner.tokens.len() + inner.sessions.len() + inner.users.len()
    }

    /// Whether the view holds nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.any.load(Ordering::Acquire)
    }
}
