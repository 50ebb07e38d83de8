//! Owns login throttling: failure counters, with exponentially growing lockouts capped at a
//! maximum, and a cap on one IP's logins in flight at once. On SQLite (one node) the counters
//! live in this process's memory; on PostgreSQL (nodes sharing a database) in the database
//! (`store::throttle`), so failures on every node count together and every node gives the same
//! `Retry-After`; should the database not answer, this node's memory counts meanwhile, never
//! nothing. The in-flight cap is per node by nature (it guards this node's hashing queue).
//! Must not import axum or sqlx.
//!
//! Who is counted (an [`Attempt`]):
//! - an anonymous attempt, per normalised email and per client IP;
//! - an attempt carrying a valid device token for that account (OWASP's "device cookies"), per
//!   device only: a device that has signed in to the account before is throttled on its own,
//!   so an attacker keeping the account locked for anonymous clients does not lock out its
//!   owner's known devices;
//! - a signed-in user's password change, per session: never the login lockout, which an
//!   attacker can hold.
//!
//! Counters forget after a quiet window and lockouts are capped, so no one is locked out for
//! longer than `max_lockout`; a success clears the counter it was counted under (for an
//! anonymous attempt the account one, never the IP one, or an attacker could reset it with their
//! own account).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::{Store, ThrottleRow};

#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    pub free_account: u32,
    pub free_ip: u32,
    pub window_secs: i64,
    pub max_lockout_secs: i64,
    /// Logins of one IP waiting for or running a password hash at once; beyond, `Busy`. A
    /// flooding address then holds only its share of the hashing queue, not all of it.
    pub in_flight_per_ip: usize,
}

/// Which limit refused the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Account,
    Ip,
    Device,
    Session,
}

/// What an attempt is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<'a> {
    /// A sign-in without a valid device token: the account (normalised email) and the IP.
    Anonymous { account: &'a str, ip: &'a str },
    /// A sign-in with a valid device token of the account: that device (its nonce).
    Device(&'a str),
    /// A password change: the signed-in session.
    Session(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub limit: Limit,
    pub retry_after_secs: i64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    failures: u32,
    last_failure: i64,
    locked_until: i64,
}

/// Never keep more entries than this per map; beyond, stale ones are swept first.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    /// The database the counters are shared through (PostgreSQL), if any.
    shared: Option<Store>,
    accounts: Mutex<HashMap<String, Entry>>,
    ips: Mutex<HashMap<String, Entry>>,
    /// Devices and sessions (keys `device:` and `session:`): one free-attempt budget each.
    holders: Mutex<HashMap<String, Entry>>,
    in_flight: Mutex<HashMap<String, usize>>,
}

/// One login's place among its IP's logins in flight; dropping it gives the place back.
#[derive(Debug)]
pub struct InFlight<'a> {
    throttle: &'a LoginThrottle,
    ip: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut map = self
            .throttle
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            shared: None,
            accounts: Mutex::new(HashMap::new()),
            ips: Mutex::new(HashMap::new()),
            holders: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Counts failures in `store` (PostgreSQL), shared with every node on it.
    pub fn shared_through(mut self, store: Store) -> Self {
        self.shared = Some(store);
        self
    }

    /// A place for one more login from `ip`, or `None` when it already has its share in flight.
    pub fn enter(&self, ip: &str) -> Option<InFlight<'_>> {
        let mut map = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = map.entry(ip.to_owned()).or_default();
        if *n >= self.config.in_flight_per_ip.max(1) {
            return None;
        }
        *n += 1;
        Some(InFlight {
            throttle: self,
            ip: ip.to_owned(),
        })
    }

    fn lookup(&self, map: &Mutex<HashMap<String, Entry>>, key: &str, now: i64) -> i64 {
        let map = map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(key).map_or(0, |e| {
            if e.locked_until > now {
                e.locked_until - now
            } else {
                0
            }
        })
    }

    /// Refuses the attempt while a lockout it is counted under runs (for an anonymous one the
    /// account limit is reported first).
    pub async fn check(&self, attempt: &Attempt<'_>, now: i64) -> Result<(), Throttled> {
        if let Some(store) = &self.shared {
            let keys = keys(attempt);
            let keys: Vec<&str> = keys.iter().map(|(_, k)| k.as_str()).collect();
            match store.throttle_locked_until(&keys).await {
                Ok(until) => {
                    let limits = self::keys(attempt).into_iter().map(|(limit, _)| limit);
                    return match limits.zip(until).find(|(_, until)| *until > now) {
                        Some((limit, until)) => Err(Throttled {
                            limit,
                            retry_after_secs: until - now,
                        }),
                        None => Ok(()),
                    };
                }
                Err(e) => {
                    tracing::warn!(error = %e, "shared login throttle unreachable: counting on this node");
                }
            }
        }
        let refused = |limit, wait: i64| {
            (wait > 0).then_some(Throttled {
                limit,
                retry_after_secs: wait,
            })
        };
        let refusal = match *attempt {
            Attempt::Anonymous { account, ip } => {
                refused(Limit::Account, self.lookup(&self.accounts, account, now))
                    .or_else(|| refused(Limit::Ip, self.lookup(&self.ips, ip, now)))
            }
            Attempt::Device(nonce) => refused(
                Limit::Device,
                self.lookup(&self.holders, &device_key(nonce), now),
            ),
            Attempt::Session(sid) => refused(
                Limit::Session,
                self.lookup(&self.holders, &session_key(sid), now),
            ),
        };
        refusal.map_or(Ok(()), Err)
    }

    fn fail(&self, map: &Mutex<HashMap<String, Entry>>, key: &str, free: u32, now: i64) {
        let mut map = map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| now - e.last_failure.max(e.locked_until) < self.config.window_secs);
            if map.len() >= MAX_ENTRIES {
                // Still full of live entries (a flood of distinct keys): forget the oldest half
                // rather than grow without bound.
                let mut ages: Vec<i64> = map.values().map(|e| e.last_failure).collect();
                ages.sort_unstable();
                let cutoff = ages.get(ages.len() / 2).copied().unwrap_or(now);
                map.retain(|_, e| e.last_failure > cutoff);
            }
        }
        let entry = map.entry(key.to_owned()).or_default();
        *entry = step(*entry, free, now, &self.config);
    }

    pub async fn record_failure(&self, attempt: &Attempt<'_>, now: i64) {
        if let Some(store) = &self.shared {
            let mut shared = true;
            for (limit, key) in keys(attempt) {
                let free = match limit {
                    Limit::Ip => self.config.free_ip,
                    _ => self.config.free_account,
                };
                let cfg = self.config;
                let counted = store
                    .throttle_update(&key, |row| {
                        let entry = step(
                            Entry {
                                failures: u32::try_from(row.failures).unwrap_or(0),
                                last_failure: row.last_failure,
                                locked_until: row.locked_until,
                            },
                            free,
                            now,
                            &cfg,
                        );
                        ThrottleRow {
                            failures: i32::try_from(entry.failures).unwrap_or(i32::MAX),
                            last_failure: entry.last_failure,
                            locked_until: entry.locked_until,
                        }
                    })
                    .await;
                if let Err(e) = counted {
                    tracing::warn!(error = %e, "shared login throttle unreachable: counting on this node");
                    shared = false;
                }
            }
            if shared {
                return;
            }
        }
        let free = self.config.free_account;
        match *attempt {
            Attempt::Anonymous { account, ip } => {
                self.fail(&self.accounts, account, free, now);
                self.fail(&self.ips, ip, self.config.free_ip, now);
            }
            Attempt::Device(nonce) => self.fail(&self.holders, &device_key(nonce), free, now),
            Attempt::Session(sid) => self.fail(&self.holders, &session_key(sid), free, now),
        }
    }

    pub async fn record_success(&self, attempt: &Attempt<'_>) {
        if let Some(store) = &self.shared
            && let Some((_, key)) = keys(attempt).into_iter().next()
            && let Err(e) = store.throttle_clear(&key).await
        {
            tracing::warn!(error = %e, "shared login throttle unreachable");
        }
        let (map, key) = match *attempt {
            Attempt::Anonymous { account, .. } => (&self.accounts, account.to_owned()),
            Attempt::Device(nonce) => (&self.holders, device_key(nonce)),
            Attempt::Session(sid) => (&self.holders, session_key(sid)),
        };
        map.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&key);
    }

    /// Drops the shared counters that no longer matter (the hourly sweep; any node may).
    pub async fn prune_shared(&self, now: i64) {
        if let Some(store) = &self.shared
            && let Err(e) = store.throttle_prune(now - self.config.window_secs).await
        {
            tracing::warn!(error = %e, "pruning the shared login throttle failed");
        }
    }

    /// Drops entries that no longer matter (called by the background sweeper).
    pub fn prune(&self, now: i64) {
        let window = self.config.window_secs;
        for map in [&self.accounts, &self.ips, &self.holders] {
            map.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .retain(|_, e| now - e.last_failure.max(e.locked_until) < window);
        }
    }
}

/// One failure counted into `entry` at `now` with `free` attempts before lockouts.
fn step(mut entry: Entry, free: u32, now: i64, cfg: &ThrottleConfig) -> Entry {
    // The quiet window counts from the end of the last lockout, so waiting out a lockout
    // does not hand back the free attempts.
    if now - entry.last_failure.max(entry.locked_until) >= cfg.window_secs {
        entry = Entry::default();
    }
    entry.failures = entry.failures.saturating_add(1);
    entry.last_failure = now;
    if entry.failures >= free {
        // 15 s, 30 s, 60 s ... capped: growing delays, never a permanent lock.
        let exponent = (entry.failures - free).min(20);
        let lockout = (15_i64 << exponent).min(cfg.max_lockout_secs);
        entry.locked_until = now + lockout;
    }
    entry
}

/// The shared counters an attempt is checked and counted under, in the order `check` reports
/// them (the first is the one a success clears).
fn keys(attempt: &Attempt<'_>) -> Vec<(Limit, String)> {
    match *attempt {
        Attempt::Anonymous { account, ip } => vec![
            (Limit::Account, format!("account:{account}")),
            (Limit::Ip, format!("ip:{ip}")),
        ],
        Attempt::Device(nonce) => vec![(Limit::Device, device_key(nonce))],
        Attempt::Session(sid) => vec![(Limit::Session, session_key(sid))],
    }
}

fn device_key(nonce: &str) -> String {
    format!("device:{nonce}")
}

fn session_key(sid: &str) -> String {
    format!("session:{sid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle::new(ThrottleConfig {
            free_account: 3,
            free_ip: 10,
            window_secs: 900,
            max_lockout_secs: 900,
            in_flight_per_ip: 2,
        })
    }

    #[test]
    fn one_ip_gets_its_share_of_logins_in_flight_and_no_more() {
        let t = throttle();
        let first = t.enter("10.0.0.1").expect("first");
        let second = t.enter("10.0.0.1").expect("second");
        assert!(t.enter("10.0.0.1").is_none(), "a third at once is refused");
        let other = t
            .enter("10.0.0.2")
            .expect("another address is not affected");
        drop(first);
        let third = t
            .enter("10.0.0.1")
            .expect("a finished login frees its place");
        drop((second, third, other));
        assert!(
            t.in_flight.lock().expect("lock").is_empty(),
            "nothing is kept once no login is in flight"
        );
    }

    const A: Attempt<'static> = Attempt::Anonymous {
        account: "a",
        ip: "ip",
    };

    #[tokio::test]
    async fn lockouts_grow_and_are_capped() {
        let t = throttle();
        let mut now = 0;
        for _ in 0..2 {
            t.record_failure(&A, now).await;
        }
        assert!(t.check(&A, now).await.is_ok());
        t.record_failure(&A, now).await;
        assert_eq!(
            t.check(&A, now).await,
            Err(Throttled {
                limit: Limit::Account,
                retry_after_secs: 15
            })
        );
        now += 15;
        t.record_failure(&A, now).await;
        assert_eq!(
            t.check(&A, now).await.map_err(|e| e.retry_after_secs),
            Err(30)
        );
        for _ in 0..20 {
            now += t
                .check(&A, now)
                .await
                .err()
                .map_or(0, |e| e.retry_after_secs);
            t.record_failure(&A, now).await;
        }
        let wait = t.check(&A, now).await.map_err(|e| e.retry_after_secs);
        assert!(matches!(wait, Err(w) if w <= 900), "{wait:?}");
    }

    #[tokio::test]
    async fn success_resets_the_account_but_not_the_ip() {
        let t = throttle();
        for i in 0..10 {
            let account = format!("user{i}");
            t.record_failure(
                &Attempt::Anonymous {
                    account: &account,
                    ip: "ip",
                },
                0,
            )
            .await;
        }
        t.record_success(&Attempt::Anonymous {
            account: "user9",
            ip: "ip",
        })
        .await;
        let someone = Attempt::Anonymous {
            account: "someone",
            ip: "ip",
        };
        assert_eq!(
            t.check(&someone, 0).await.map_err(|e| e.limit),
            Err(Limit::Ip)
        );
    }

    #[tokio::test]
    async fn a_device_and_a_session_are_counted_apart_from_the_anonymous_attempts() {
        let t = throttle();
        for _ in 0..3 {
            t.record_failure(&A, 0).await;
        }
        assert_eq!(
            t.check(&A, 0).await.map_err(|e| e.limit),
            Err(Limit::Account)
        );
        assert!(t.check(&Attempt::Device("n1"), 0).await.is_ok());
        assert!(t.check(&Attempt::Session("s1"), 0).await.is_ok());
        for _ in 0..3 {
            t.record_failure(&Attempt::Device("n1"), 0).await;
        }
        assert_eq!(
            t.check(&Attempt::Device("n1"), 0)
                .await
                .map_err(|e| e.limit),
            Err(Limit::Device)
        );
        assert!(t.check(&Attempt::Device("n2"), 0).await.is_ok());
        t.record_success(&Attempt::Device("n1")).await;
        assert!(t.check(&Attempt::Device("n1"), 0).await.is_ok());
        assert_eq!(
            t.check(&A, 0).await.map_err(|e| e.limit),
            Err(Limit::Account)
        );
    }
}
