//! Owns the per-plan API rate limiter of `/api/*` (GCRA through `governor`, keyed by subject,
//! limits from `Settings::rate_limits`). Per-node state: each node counts its own requests in
//! memory today. Must not import axum or sqlx.
//!
//! The limiter decides from the token's claims alone: no database read on the request path.
//! A token naming a plan the configuration does not know gets the `free` limit, never none.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use jwtgate_verify::Claims;

use crate::clock::Clock;
use crate::config::{DEFAULT_PLAN, RateLimits};

/// The server's clock as governor's: tests move the manual clock instead of sleeping.
#[derive(Debug, Clone)]
pub struct LimiterClock(Clock);

impl governor::clock::Clock for LimiterClock {
    type Instant = Nanos;
    fn now(&self) -> Nanos {
        Nanos::from(self.0.now_nanos())
    }
}

type Keyed =
    RateLimiter<String, DashMapStateStore<String>, LimiterClock, StateInformationMiddleware>;

struct PlanLimit {
    name: String,
    per_minute: u32,
    limiter: Keyed,
}

/// What the limiter decided for one request, with what the `RateLimit` headers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'a> {
    pub allowed: bool,
    /// The plan whose limit applied (`free` for an unknown plan).
    pub plan: &'a str,
    /// Requests per minute of that plan (the quota, `q`; the window `w` is 60 s).
    pub per_minute: u32,
    /// Requests left right now (`r`).
    pub remaining: u32,
    /// Seconds until the quota is whole again (`t`); on a refusal, until the next request may
    /// pass (also the `Retry-After`).
    pub reset_secs: u64,
}

/// One keyed GCRA limiter per plan.
pub struct PlanLimiter {
    plans: HashMap<String, PlanLimit>,
    clock: LimiterClock,
}

impl std::fmt::Debug for PlanLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut plans: Vec<(&str, u32)> = self
            .plans
            .values()
            .map(|p| (p.name.as_str(), p.per_minute))
            .collect();
        plans.sort_unstable();
        f.debug_struct("PlanLimiter")
            .field("plans", &plans)
            .finish()
    }
}

impl PlanLimiter {
    /// `None` when rate limits are `off`.
    pub fn new(limits: &RateLimits, clock: Clock) -> Option<PlanLimiter> {
        if !limits.enabled {
            return None;
        }
        let clock = LimiterClock(clock);
        let plans = limits
            .per_minute
            .iter()
            .filter_map(|(name, per_minute)| {
                let quota = Quota::per_minute(NonZeroU32::new(*per_minute)?);
                let limiter = RateLimiter::dashmap_with_clock(quota, clock.clone())
                    .with_middleware::<StateInformationMiddleware>();
                Some((
                    name.clone(),
                    PlanLimit {
                        name: name.clone(),
                        per_minute: *per_minute,
                        limiter,
                    },
                ))
            })
            .collect();
        Some(PlanLimiter { plans, clock })
    }

    /// Counts one request of the token's subject against the limit of the token's plan.
    /// Claims only: no database read on the request path.
    pub fn check(&self, claims: &Claims) -> Option<Decision<'_>> {
        let limit = claims
            .plan
            .as_deref()
            .and_then(|p| self.plans.get(p))
            .or_else(|| self.plans.get(DEFAULT_PLAN))?;
        let per_minute = u64::from(limit.per_minute.max(1));
        // `&claims.sub` is already a `&String`: the hot path allocates no key.
        Some(match limit.limiter.check_key(&claims.sub) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let missing = u64::from(limit.per_minute.saturating_sub(remaining));
                Decision {
                    allowed: true,
                    plan: &limit.name,
                    per_minute: limit.per_minute,
                    remaining,
                    reset_secs: (missing * 60).div_ceil(per_minute),
                }
            }
            Err(not_until) => {
                let wait: Duration =
                    not_until.wait_time_from(governor::clock::Clock::now(&self.clock));
                Decision {
                    allowed: false,
                    plan: &limit.name,
                    per_minute: limit.per_minute,
                    remaining: 0,
                    reset_secs: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
                }
            }
        })
    }

    /// Forgets subjects whose state is back to a full quota, bounding memory to the users
    /// active within the last minute.
    pub fn prune(&self) {
        for plan in self.plans.values() {
            plan.limiter.retain_recent();
            plan.limiter.shrink_to_fit();
        }
    }

    /// Subjects tracked across all plans.
    pub fn len(&self) -> usize {
        self.plans.values().map(|p| p.limiter.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(sub: &str, plan: Option<&str>) -> Claims {
        Claims {
            iss: "i".into(),
            sub: sub.into(),
            aud: "a".into(),
            exp: 1,
            iat: 0,
            nbf: None,
            jti: "j".into(),
            sid: None,
            roles: Vec::new(),
            plan: plan.map(str::to_owned),
            email: None,
            email_verified: None,
            client_id: None,
            extra: serde_json::Map::new(),
        }
    }

    fn limiter(spec: &str) -> (Clock, PlanLimiter) {
        let clock = Clock::manual(1_800_000_000);
        let limits: RateLimits = spec.parse().expect("spec");
        let limiter = PlanLimiter::new(&limits, clock.clone()).expect("enabled");
        (clock, limiter)
    }

    #[test]
    fn a_subject_gets_its_plans_quota_then_waits_for_one_slot() {
        let (clock, limiter) = limiter("free=3,pro=600");
        for left in [2, 1, 0] {
            let d = limiter.check(&token("u", Some("free"))).expect("decision");
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let refused = limiter.check(&token("u", Some("free"))).expect("decision");
        assert!(!refused.allowed);
        assert_eq!(
            (refused.plan, refused.per_minute, refused.reset_secs),
            ("free", 3, 20)
        );
        assert!(
            limiter
                .check(&token("other", Some("free")))
                .expect("d")
                .allowed
        );
        clock.advance(20);
        assert!(limiter.check(&token("u", Some("free"))).expect("d").allowed);
    }

    #[test]
    fn an_unknown_plan_gets_the_free_limit() {
        let (_clock, limiter) = limiter("free=1,pro=600");
        assert!(
            limiter
                .check(&token("u", Some("platinum")))
                .expect("d")
                .allowed
        );
        let refused = limiter.check(&token("u", Some("platinum"))).expect("d");
        assert_eq!((refused.allowed, refused.plan), (false, "free"));
    }

    #[test]
    fn idle_subjects_are_forgotten_by_prune() {
        let (clock, limiter) = limiter("free=60");
        limiter.check(&token("u", None));
        assert_eq!(limiter.len(), 1);
        clock.advance(120);
        limiter.prune();
        assert!(limiter.is_empty());
    }

    #[test]
    fn off_builds_no_limiter() {
        let off: RateLimits = "off".parse().expect("off");
        assert!(PlanLimiter::new(&off, Clock::manual(0)).is_none());
    }
}
