//! The revocation view: which otherwise valid tokens must be refused right now.
//!
//! Owns [`RevocationView`]. Checked after the signature, in memory, O(1). It is shared (`Arc`)
//! and fed from outside: the jwtgate server on logout, role changes and theft detection, and
//! later a revocation feed between nodes. Entries carry the time after which they can no
//! longer matter (every token they could match has expired) and are pruned then.
//!
//! A view fed from elsewhere (another node's revocations, a feed) can be **leased**
//! ([`RevocationView::leased`]): it answers only while whoever feeds it has proven it current
//! ([`RevocationView::renew_until`]), and refuses with [`Error::RevocationStale`] otherwise, so a
//! verifier cut off from its source never accepts a token that may have been revoked meanwhile.
//! The check is one atomic load and a monotonic clock read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Instant;

use crate::{Claims, Error};

/// Revoked token ids, revoked sessions, and per-user "issued before" cut-offs.
#[derive(Debug, Default)]
pub struct RevocationView {
    /// Lets the common case (nothing revoked) skip the lock entirely.
    any: AtomicBool,
    inner: RwLock<Inner>,
    /// For a leased view: the instant it was made, and the lease's end in nanoseconds after it
    /// (0: not proven fresh yet).
    lease: Option<(Instant, AtomicU64)>,
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
    /// An empty view that is always current (fed only by this process).
    #[must_use]
    pub fn new() -> RevocationView {
        RevocationView::default()
    }

    /// An empty view that answers only under a lease: stale (every check refused with
    /// [`Error::RevocationStale`]) until the first [`RevocationView::renew_until`], and again
    /// whenever the lease runs out.
    #[must_use]
    pub fn leased() -> RevocationView {
        RevocationView {
            lease: Some((Instant::now(), AtomicU64::new(0))),
            ..RevocationView::default()
        }
    }

    /// Extends the lease to `deadline` (a view that is not leased ignores it). The feeder
    /// passes the instant it *asked* its source plus the staleness it tolerates, so the view
    /// is never trusted for longer than that after the data it holds was read.
    pub fn renew_until(&self, deadline: Instant) {
        if let Some((base, until)) = &self.lease {
            let nanos = u64::try_from(deadline.saturating_duration_since(*base).as_nanos())
                .unwrap_or(u64::MAX);
            until.fetch_max(nanos, Ordering::AcqRel);
        }
    }

    /// Whether the view may answer now: always for a view that is not leased.
    #[must_use]
    pub fn is_fresh(&self) -> bool {
        match &self.lease {
            None => true,
            Some((base, until)) => {
                let now = u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX);
                now < until.load(Ordering::Acquire)
            }
        }
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
    /// [`Error::RevocationStale`] for a leased view whose lease ran out, else
    /// [`Error::Revoked`].
    pub fn check(&self, claims: &Claims) -> Result<(), Error> {
        if !self.is_fresh() {
            return Err(Error::RevocationStale);
        }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Audience;

    fn claims() -> Claims {
        Claims {
            iss: "https://auth.example.com".into(),
            sub: "user-1".into(),
            aud: Audience::One("api".into()),
            exp: 2_000,
            iat: 1_000,
            nbf: None,
            jti: "jti-1".into(),
            sid: Some("sid-1".into()),
            roles: Vec::new(),
            plan: None,
            email: None,
            email_verified: None,
            client_id: None,
            extra: serde_json::Map::new(),
        }
    }

    #[test]
    fn a_view_that_is_not_leased_is_always_fresh() {
        let view = RevocationView::new();
        assert!(view.is_fresh());
        assert_eq!(view.check(&claims()), Ok(()));
    }

    #[test]
    fn a_leased_view_refuses_everything_until_its_first_renewal() {
        let view = RevocationView::leased();
        assert_eq!(view.check(&claims()), Err(Error::RevocationStale));
        view.renew_until(Instant::now() + Duration::from_secs(60));
        assert_eq!(view.check(&claims()), Ok(()));
        view.revoke_session("sid-1", 3_000);
        assert_eq!(view.check(&claims()), Err(Error::Revoked));
    }

    #[test]
    fn a_lease_that_ran_out_is_stale_and_an_older_deadline_never_shortens_one() {
        let view = RevocationView::leased();
        view.renew_until(Instant::now() + Duration::from_secs(60));
        view.renew_until(Instant::now());
        assert!(view.is_fresh(), "a late renewal with an older deadline");
        let past = RevocationView::leased();
        past.renew_until(Instant::now());
        assert!(!past.is_fresh());
        assert_eq!(past.check(&claims()), Err(Error::RevocationStale));
    }
}
