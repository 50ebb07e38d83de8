//! Owns the refusal tarpit: how long a refusal (429, or 503 `server_busy`) to one client
//! address waits before it is sent. Per-node memory; must not import axum or the domain.
//!
//! Why: a prompt refusal is cheap, but a flood of them is not. 500 connections that resend a
//! refused login the moment they hear "no" made the server answer ~70,000 refusals a second,
//! and everyone else's requests (new connections above all) queued behind them. Here each
//! address carries a *debt*: one for every refusal, halving every [`HALF_LIFE`]. The first
//! [`FREE`] are answered at once (a person who mistypes, a client that backs off), then each
//! further one waits [`STEP`] more, up to [`MAX_DELAY`] (kept well under common client
//! timeouts, so the client still hears `Retry-After`). A waiting answer is a sleeping task, not
//! work: a connection that must wait for its answer cannot send its next request (HTTP/1.1),
//! so the flood throttles itself to about one request per connection per delay.
//!
//! Only refusals wait: an address that is refused may still be answered at once when it is
//! served. IPv6 clients are keyed by their /64, which one host usually holds whole. The map is
//! bounded: past [`MAX_ADDRESSES`] it drops the debts that have decayed to nothing, and if a
//! spray of addresses still fills it, new addresses are tracked only once old ones decay (each
//! starts with no debt, as today's answers do).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Refusals an address may collect (in decayed debt) before its refusals start to wait.
pub const FREE: f64 = 10.0;
/// How much longer each refusal beyond [`FREE`] waits.
pub const STEP: Duration = Duration::from_millis(20);
/// The longest a refusal waits.
pub const MAX_DELAY: Duration = Duration::from_secs(2);
/// The debt of an address halves every this long.
pub const HALF_LIFE: Duration = Duration::from_secs(10);
/// Addresses tracked at most.
pub const MAX_ADDRESSES: usize = 65_536;

/// One address's refusals, decayed to `at`.
#[derive(Debug, Clone, Copy)]
struct Debt {
    refusals: f64,
    at: Instant,
}

impl Debt {
    fn decayed(self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.refusals * 0.5_f64.powf(elapsed / HALF_LIFE.as_secs_f64())
    }
}

#[derive(Debug)]
pub struct Tarpit {
    max_delay: Duration,
    debts: Mutex<HashMap<IpAddr, Debt>>,
}

impl Tarpit {
    /// A tarpit whose refusals wait at most `max_delay` (zero: never).
    pub fn new(max_delay: Duration) -> Self {
        Self {
            max_delay: max_delay.min(MAX_DELAY),
            debts: Mutex::new(HashMap::new()),
        }
    }

    /// Records one refusal to `ip` at `now`; how long its answer waits.
    pub fn refusal(&self, ip: IpAddr, now: Instant) -> Duration {
        if self.max_delay.is_zero() {
            return Duration::ZERO;
        }
        let key = key(ip);
        let mut debts = self.debts.lock().unwrap_or_else(PoisonError::into_inner);
        if debts.len() >= MAX_ADDRESSES && !debts.contains_key(&key) {
            debts.retain(|_, d| d.decayed(now) >= 1.0);
            if debts.len() >= MAX_ADDRESSES {
                return Duration::ZERO;
            }
        }
        let debt = debts.entry(key).or_insert(Debt {
            refusals: 0.0,
            at: now,
        });
        let refusals = debt.decayed(now) + 1.0;
        *debt = Debt { refusals, at: now };
        let excess = (refusals - FREE).max(0.0);
        STEP.mul_f64(excess).min(self.max_delay)
    }
}

/// An address as the tarpit counts it: IPv4 whole, IPv6 by its /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn the_first_refusals_are_answered_at_once_then_each_waits_longer_up_to_the_cap() {
        let pit = Tarpit::new(MAX_DELAY);
        let now = Instant::now();
        let delays: Vec<Duration> = (0..400)
            .map(|_| pit.refusal(ip("192.0.2.1"), now))
            .collect();
        assert!(delays[..10].iter().all(Duration::is_zero), "{delays:?}");
        assert_eq!(delays[10], STEP);
        assert_eq!(delays[11], STEP * 2);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(delays[399], MAX_DELAY);
        // Another address owes nothing.
        assert_eq!(pit.refusal(ip("192.0.2.2"), now), Duration::ZERO);
    }

    #[test]
    fn a_debt_halves_every_half_life() {
        let pit = Tarpit::new(MAX_DELAY);
        let now = Instant::now();
        for _ in 0..30 {
            pit.refusal(ip("192.0.2.1"), now);
        }
        // 30 halves to 15 after one half-life; this refusal makes 16: six beyond the free ten.
        let later = now + HALF_LIFE;
        let delay = pit.refusal(ip("192.0.2.1"), later);
        assert!(
            delay.abs_diff(STEP * 6) < Duration::from_micros(10),
            "{delay:?}"
        );
        // Quiet for a few minutes: answered at once again.
        let much_later = later + HALF_LIFE * 20;
        assert_eq!(pit.refusal(ip("192.0.2.1"), much_later), Duration::ZERO);
    }

    #[test]
    fn one_ipv6_host_is_its_64_and_a_mapped_ipv4_is_the_ipv4() {
        let pit = Tarpit::new(MAX_DELAY);
        let now = Instant::now();
        for i in 0..10 {
            pit.refusal(ip(&format!("2001:db8:1:2::{i:x}")), now);
        }
        assert_eq!(pit.refusal(ip("2001:db8:1:2:ffff::1"), now), STEP);
        assert_eq!(pit.refusal(ip("2001:db8:1:3::1"), now), Duration::ZERO);
        for _ in 0..10 {
            pit.refusal(ip("::ffff:192.0.2.9"), now);
        }
        assert_eq!(pit.refusal(ip("192.0.2.9"), now), STEP);
    }

    #[test]
    fn off_means_no_wait_and_the_map_stays_bounded() {
        let off = Tarpit::new(Duration::ZERO);
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(off.refusal(ip("192.0.2.1"), now), Duration::ZERO);
        }
        let pit = Tarpit::new(MAX_DELAY);
        for i in 0..(MAX_ADDRESSES as u32 + 10) {
            pit.refusal(IpAddr::from(i.to_be_bytes()), now);
        }
        let tracked = pit.debts.lock().expect("lock").len();
        assert_eq!(tracked, MAX_ADDRESSES);
        // Once the old debts decay, new addresses are tracked again.
        let later = now + HALF_LIFE * 4;
        pit.refusal(ip("198.51.100.1"), later);
        assert_eq!(pit.debts.lock().expect("lock").len(), 1);
    }
}
