//! Owns login throttling: failure counters per normalised email and per client IP, in memory,
//! with exponentially growing lockouts capped at a maximum, and a cap on one IP's logins in
//! flight at once. Must not import axum or sqlx.
//!
//! Counters forget after a quiet window and lockouts are capped, so the real user is never locked
//! out for longer than `max_lockout`; a success clears the account counter (not the IP one, or an
//! attacker could reset it with their own account).

use std::collections::HashMap;
use std::sync::Mutex;

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
    accounts: Mutex<HashMap<String, Entry>>,
    ips: Mutex<HashMap<String, Entry>>,
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
            accounts: Mutex::new(HashMap::new()),
            ips: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
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

    /// Refuses the attempt while either lockout runs (the account limit is reported first).
    pub fn check(&self, account: &str, ip: &str, now: i64) -> Result<(), Throttled> {
        let wait = self.lookup(&self.accounts, account, now);
        if wait > 0 {
            return Err(Throttled {
                limit: Limit::Account,
                retry_after_secs: wait,
            });
        }
        let wait = self.lookup(&self.ips, ip, now);
        if wait > 0 {
            return Err(Throttled {
                limit: Limit::Ip,
                retry_after_secs: wait,
            });
        }
        Ok(())
    }

    fn fail(&self, map: &Mutex<HashMap<String, Entry>>, key: &str, free: u32, now: i64) {
        let cfg = self.config;
        let mut map = map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, e| now - e.last_failure.max(e.locked_until) < cfg.window_secs);
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
        // The quiet window counts from the end of the last lockout, so waiting out a lockout
        // does not hand back the free attempts.
        if now - entry.last_failure.max(entry.locked_until) >= cfg.window_secs {
            *entry = Entry::default();
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        if entry.failures >= free {
            // 15 s, 30 s, 60 s ... capped: growing delays, never a permanent lock.
            let exponent = (entry.failures - free).min(20);
            let lockout = (15_i64 << exponent).min(cfg.max_lockout_secs);
            entry.locked_until = now + lockout;
        }
    }

    pub fn record_failure(&self, account: &str, ip: &str, now: i64) {
        self.fail(&self.accounts, account, self.config.free_account, now);
        self.fail(&self.ips, ip, self.config.free_ip, now);
    }

    pub fn record_success(&self, account: &str) {
        self.accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(account);
    }

    /// Drops entries that no longer matter (called by the background sweeper).
    pub fn prune(&self, now: i64) {
        let window = self.config.window_secs;
        for map in [&self.accounts, &self.ips] {
            map.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .retain(|_, e| now - e.last_failure.max(e.locked_until) < window);
        }
    }
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

    #[test]
    fn lockouts_grow_and_are_capped() {
        let t = throttle();
        let mut now = 0;
        for _ in 0..2 {
            t.record_failure("a", "ip", now);
        }
        assert!(t.check("a", "ip", now).is_ok());
        t.record_failure("a", "ip", now);
        assert_eq!(
            t.check("a", "ip", now),
            Err(Throttled {
                limit: Limit::Account,
                retry_after_secs: 15
            })
        );
        now += 15;
        t.record_failure("a", "ip", now);
        assert_eq!(
            t.check("a", "ip", now).map_err(|e| e.retry_after_secs),
            Err(30)
        );
        for _ in 0..20 {
            now += t
                .check("a", "ip", now)
                .err()
                .map_or(0, |e| e.retry_after_secs);
            t.record_failure("a", "ip", now);
        }
        let wait = t.check("a", "ip", now).map_err(|e| e.retry_after_secs);
        assert!(matches!(wait, Err(w) if w <= 900), "{wait:?}");
    }

    #[test]
    fn success_resets_the_account_but_not_the_ip() {
        let t = throttle();
        for i in 0..10 {
            t.record_failure(&format!("user{i}"), "ip", 0);
        }
        t.record_success("user9");
        assert_eq!(
            t.check("someone", "ip", 0).map_err(|e| e.limit),
            Err(Limit::Ip)
        );
    }
}
