//! Owns this node's revocation state: the `jwtgate-verify` `RevocationView` every verification
//! consults, fed when the domain ends sessions or cuts users off, and rebuilt from the store at
//! start-up. Must not import axum.
//!
//! Every entry carries the time after which no unexpired token can match it (its `until`: the
//! access-token lifetime plus leeway after it was made) and is pruned then.
//!
//! On PostgreSQL, where several nodes may share the database, the view also follows the
//! revocation log (`follow`): every revocation committed by any node reaches this one within
//! [`FOLLOW_EVERY`], and the view is leased: it answers only while a read of the log that
//! *started* less than [`LEASE`] ago succeeded and found nothing left to read. A node cut off
//! from the database therefore refuses tokens (503 `revocation_view_stale`) at most `LEASE`
//! after the last moment it could have known of a revocation, instead of accepting them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jwtgate_verify::RevocationView;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::store::{LogListener, LogPage, LogSignal, Revoked, Store, StoreError};

tokio::task_local! {
    /// Set while a request that may change something runs: whether it revoked anything here
    /// (the HTTP layer then waits for the other nodes to apply it).
    pub static REVOKED: std::cell::Cell<bool>;
}

/// Notes, for the request running (if any), that it revoked something.
pub(crate) fn note_revoked() {
    let _ = REVOKED.try_with(|revoked| revoked.set(true));
}

/// How often a node reads the revocation log.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(250);
/// How long one successful read keeps the view trusted, from the instant the read started. Far
/// above `FOLLOW_EVERY` plus a normal read, so a healthy node is never stale.
pub const LEASE: Duration = Duration::from_secs(2);
/// Entries read at most at once; a node further behind reads again at once and is not fresh
/// until it has caught up.
const PAGE: i64 = 1000;

#[derive(Debug, Clone)]
pub struct Revocations {
    view: Arc<RevocationView>,
    /// How long a revoked token may still be presented: access-token lifetime plus leeway.
    horizon: i64,
    /// The last `seq` of the revocation log applied here (0 without a log).
    applied: Arc<watch::Sender<i64>>,
    /// How far the other nodes have applied it.
    acks: Arc<Acks>,
    /// How many nodes are live, this one included (1 alone), as the follower last saw.
    live: Arc<std::sync::atomic::AtomicUsize>,
    /// When the follower last read the log to its end, in milliseconds after `since`, plus
    /// one (0: never).
    synced: Arc<(Instant, std::sync::atomic::AtomicU64)>,
    /// Counts the revocations made here.
    metrics: Metrics,
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
            applied: Arc::new(watch::channel(0).0),
            acks: Arc::new(Acks::default()),
            live: Arc::new(std::sync::atomic::AtomicUsize::new(1)),
            synced: Arc::new((Instant::now(), std::sync::atomic::AtomicU64::new(0))),
            metrics: Metrics::off(),
        }
    }

    /// Counts the revocations made here in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// How long ago the follower last read the log to its end; `None` before it first has
    /// (and always on a single node, which has no follower).
    pub fn since_synced(&self) -> Option<Duration> {
        let (since, synced) = &*self.synced;
        let at = synced
            .load(std::sync::atomic::Ordering::Acquire)
            .checked_sub(1)?;
        Some(since.elapsed().saturating_sub(Duration::from_millis(at)))
    }

    fn note_synced(&self) {
        let (since, synced) = &*self.synced;
        let at = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        synced.store(at + 1, std::sync::atomic::Ordering::Release);
    }

    /// How many nodes are live, this one included, kept current by the follower (the plan
    /// limiter divides its quotas by it).
    pub fn live_nodes(&self) -> Arc<std::sync::atomic::AtomicUsize> {
        Arc::clone(&self.live)
    }

    /// A view that follows the revocation log under a lease (see the module documentation):
    /// stale until [`Revocations::restore`] has run.
    pub fn leased(horizon: i64) -> Self {
        Self {
            view: Arc::new(RevocationView::leased()),
            ..Self::new(horizon)
        }
    }

    /// Whether the view may answer now (always, unless it is leased and the lease ran out).
    pub fn is_fresh(&self) -> bool {
        self.view.is_fresh()
    }

    /// The last `seq` of the revocation log applied here, as it changes.
    pub fn applied(&self) -> watch::Receiver<i64> {
        self.applied.subscribe()
    }

    /// Applies entries of the log (each is idempotent: a revocation this node made itself is
    /// already in the view).
    fn apply(&self, page: &LogPage) {
        for entry in &page.entries {
            match &entry.revoked {
                Revoked::Session { id, at } => self.view.revoke_session(id, at + self.horizon),
                Revoked::User { id, cutoff } => {
                    self.view
                        .revoke_user_tokens_issued_before(id, *cutoff, cutoff + self.horizon);
                }
                // Every node's key poll drops a revoked key from its key set; the entry is
                // for the services that read the feed.
                Revoked::Key { .. } => {}
            }
        }
        self.applied.send_replace(page.last);
    }

    /// On a single node, which has no follower: after a request that revoked has committed,
    /// moves [`Revocations::applied`] to the log's head, which wakes the feed's streams.
    pub async fn committed(&self, store: &Store) {
        match store.revocation_head().await {
            Ok(head) => {
                self.applied.send_if_modified(|applied| {
                    let moved = head > *applied;
                    *applied = (*applied).max(head);
                    moved
                });
            }
            // The streams read the log at their next heartbeat anyway.
            Err(e) => tracing::warn!(error = %e, "could not read the revocation log's head"),
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
        note_revoked();
        self.metrics.revoked("session", 1);
        self.view.revoke_session(session_id, now + self.horizon);
    }

    /// Refuses every token of `user_id` issued before `cutoff`, from `now` on.
    pub fn user(&self, user_id: &str, cutoff: i64, now: i64) {
        note_revoked();
        self.metrics.revoked("user", 1);
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
    ///
    /// The log's head is read first: every entry after it is committed after the state below
    /// was read or is in it, so following from the head misses nothing. The lease starts from
    /// the instant before that read.
    pub async fn restore(&self, store: &Store, now: i64) -> Result<Restored, StoreError> {
        let asked = Instant::now();
        self.applied.send_replace(store.revocation_head().await?);
        let ended = store.sessions_ended_since(now - self.horizon).await?;
        for (sid, ended_at) in &ended {
            self.view.revoke_session(sid, ended_at + self.horizon);
        }
        let cutoffs = store.user_cutoffs_since(now - self.horizon).await?;
        for (user_id, cutoff) in &cutoffs {
            self.view
                .revoke_user_tokens_issued_before(user_id, *cutoff, cutoff + self.horizon);
        }
        self.view.renew_until(asked + LEASE);
        Ok(Restored {
            sessions: ended.len(),
            cutoffs: cutoffs.len(),
        })
    }
}

/// Follows the revocation log from the last applied entry until `stop`, on a thread and a
/// runtime of its own with database connections of its own (one to read, one to listen): a
/// node busy serving requests, or whose pool is exhausted, still renews its lease on time (or
/// stops answering when it cannot). It reads the log when an entry is pushed and every
/// [`FOLLOW_EVERY`] (a push sent while the listening connection was down is lost), records how
/// far it has applied the log (announcing each advance, which a revoking node waits for), and
/// leaves the live set when it stops.
pub fn follow(
    store: &Store,
    revocations: Revocations,
    node: String,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let store = store.clone();
    std::thread::Builder::new()
        .name("revocation-log".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the revocation follower");
                    return;
                }
            };
            runtime.block_on(async move {
                let (reader, listening) = match (store.detached().await, store.detached().await) {
                    (Ok(reader), Ok(listening)) => (reader, listening),
                    (Err(e), _) | (_, Err(e)) => {
                        tracing::error!(error = %e, "cannot open the revocation follower's connections");
                        return;
                    }
                };
                let mut follower = Follower {
                    reader,
                    listening,
                    listener: None,
                    revocations,
                    node,
                    failing: false,
                    announced: -1,
                };
                let mut tick = tokio::time::interval(FOLLOW_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => follower.listen().await,
                        pushed = follower.signal() => match pushed {
                            Some(LogSignal::Entry) => {}
                            Some(LogSignal::Ack { node, applied }) => {
                                follower.revocations.acks.record(node, applied);
                                continue;
                            }
                            None => continue,
                        },
                        _ = stop.wait_for(|s| *s) => break,
                    }
                    follower.read().await;
                }
                let _ = follower.reader.forget_node(&follower.node).await;
                follower.reader.close().await;
                drop(follower.listener.take());
                follower.listening.close().await;
            });
        })
}

/// The follower's state on its thread.
struct Follower {
    reader: Store,
    listening: Store,
    listener: Option<LogListener>,
    revocations: Revocations,
    node: String,
    failing: bool,
    /// The last `applied` announced to the other nodes.
    announced: i64,
}

impl Follower {
    /// (Re)opens the listening connection if it is not open.
    async fn listen(&mut self) {
        if self.listener.is_none() {
            self.listener = self.listening.listen_revocations().await.ok().flatten();
        }
    }

    /// The next push, or never while there is no listener. A failed listener is dropped (and
    /// opened again at the next tick).
    async fn signal(&mut self) -> Option<LogSignal> {
        let Some(listener) = self.listener.as_mut() else {
            return std::future::pending().await;
        };
        match listener.next().await {
            Ok(signal) => Some(signal),
            Err(_) => {
                self.listener = None;
                None
            }
        }
    }

    /// Reads and applies everything after the last applied entry, renews the lease once caught
    /// up (from the instant the last read started), and records how far this node is.
    async fn read(&mut self) {
        loop {
            let asked = Instant::now();
            let after = *self.revocations.applied.borrow();
            match self.reader.revocations_after(after, PAGE).await {
                Ok(page) => {
                    let full = page.entries.len() == usize::try_from(PAGE).unwrap_or(0);
                    self.revocations.apply(&page);
                    if self.failing {
                        tracing::info!(applied = page.last, "the revocation log is readable again");
                        self.failing = false;
                    }
                    if !full {
                        self.revocations.view.renew_until(asked + LEASE);
                        self.revocations.note_synced();
                        let announce = page.last > self.announced;
                        if let Ok(live) = self
                            .reader
                            .record_applied(&self.node, page.last, announce, LIVE_MS)
                            .await
                        {
                            if announce {
                                self.announced = page.last;
                            }
                            self.revocations.live.store(
                                usize::try_from(live).unwrap_or(1).max(1),
                                std::sync::atomic::Ordering::Release,
                            );
                        }
                        return;
                    }
                }
                Err(e) => {
                    if !self.failing {
                        tracing::warn!(error = %e, "cannot read the revocation log: tokens are refused once the lease runs out");
                        self.failing = true;
                    }
                    return;
                }
            }
        }
    }
}

/// How far the other nodes have applied the log, as their announcements arrive.
#[derive(Debug, Default)]
struct Acks {
    applied: std::sync::Mutex<std::collections::HashMap<String, i64>>,
    changed: tokio::sync::Notify,
}

impl Acks {
    fn record(&self, node: String, applied: i64) {
        let mut map = self
            .applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map.entry(node).or_insert(applied);
        *entry = (*entry).max(applied);
        drop(map);
        self.changed.notify_waiters();
    }

    fn reached(&self, node: &str, target: i64) -> bool {
        let map = self
            .applied
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(node).is_some_and(|applied| *applied >= target)
    }
}

/// A node is live while it has recorded its progress within this (its follower records every
/// `FOLLOW_EVERY`).
const LIVE_MS: i64 = 1500;

impl Revocations {
    /// After this node committed a revocation (and applied it itself): waits until every other
    /// live node has applied the log that far, at most [`LEASE`] (by then a node that has not
    /// is stale and refuses every token anyway). What makes a logout's answer mean "refused
    /// everywhere". Returns whether every live node acknowledged in time.
    pub async fn propagated(&self, store: &Store, node: &str) -> bool {
        let deadline = tokio::time::Instant::now() + LEASE;
        let (Ok(target), Ok(live)) = (
            store.revocation_head().await,
            store.live_nodes(LIVE_MS).await,
        ) else {
            return false;
        };
        let waiting: Vec<String> = live
            .into_iter()
            .filter(|(other, applied)| other != node && *applied < target)
            .map(|(other, _)| other)
            .collect();
        loop {
            let changed = self.acks.changed.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before looking, so an acknowledgement arriving in between is not missed.
            changed.as_mut().enable();
            if waiting.iter().all(|other| self.acks.reached(other, target)) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                tracing::warn!(target, waiting = ?waiting, "live nodes did not acknowledge a revocation in time");
                return false;
            }
        }
    }
}
