//! Owns this node's revocation state: the `jwtgate-verify` `RevocationView` every verification
//! consults, fed when the domain ends sessions or cuts users off, and rebuilt from the store at
//! start-up. Must not import axum.
//!
//! Every entry carries the time after which no unexpired token can match it (its `until`: the
//! access-token lifetime plus leeway after it was made) and is pruned then.

use std::sync::Arc;

use jwtgate_verify::RevocationView;

use crate::store::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct Revocations {
    view: Arc<RevocationView>,
    /// How long a revoked token may still be presented: access-token lifetime plus leeway.
    horizon: i64,
}

/// What [`Revocations::restore`] put back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    pub sessions: usize,
    pub cutoffs: usize,
}

impl Revocations {
    pub fn new(horizon: i64) -> Self {
        Self {
            view: Arc::new(RevocationView::new()),
            horizon,
        }
    }

    /// The view the verifiers consult.
    pub fn view(&self) -> &Arc<RevocationView> {
        &self.view
    }

    pub fn horizon(&self) -> i64 {
        self.horizon
    }

    /// Refuses every token of `session_id`, from `now` on.
    pub fn session(&self, session_id: &str, now: i64) {
        self.view.revoke_session(session_id, now + self.horizon);
    }

    /// Refuses every token of `user_id` issued before `cutoff`, from `now` on.
    pub fn user(&self, user_id: &str, cutoff: i64, now: i64) {
        self.view
            .revoke_user_tokens_issued_before(user_id, cutoff, now + self.horizon);
    }

    /// The cut-off of `user_id`, if any: the earliest `iat` a new token of theirs may carry.
    pub fn user_cutoff(&self, user_id: &str) -> Option<i64> {
        self.view.user_cutoff(user_id)
    }

    pub fn prune(&self, now: i64) {
        self.view.prune(now);
    }

    /// INVARIANT: a restart never revives a revoked token. Every session ended, and every
    /// user cut-off set, within the last access-token lifetime goes back into the view before
    /// the server listens.
    pub async fn restore(&self, store: &Store, now: i64) -> Result<Restored, StoreError> {
        let ended = store.sessions_ended_since(now - self.horizon).await?;
        for (sid, ended_at) in &ended {
            self.view.revoke_session(sid, ended_at + self.horizon);
        }
        let cutoffs = store.user_cutoffs_since(now - self.horizon).await?;
        for (user_id, cutoff) in &cutoffs {
            self.view
                .revoke_user_tokens_issued_before(user_id, *cutoff, cutoff + self.horizon);
        }
        Ok(Restored {
            sessions: ended.len(),
            cutoffs: cutoffs.len(),
        })
    }
}
