//! Owns the per-plan API rate limiter of `/api/*` (GCRA through `governor`, keyed by subject,
//! limits from `Settings::rate_limits`). Each node counts in its own memory: with N live nodes
//! (on PostgreSQL, as the revocation follower sees them) each allows its share, the quota
//! divided by N rounded up, so a subject whose requests a load balancer spreads over the nodes
//! gets its quota in all, within N - 1. Exact counting would cost a round trip to a shared
//! store on every API request; this costs one atomic load. Must not import axum or sqlx.
//!
//! The limiter decides from the token's claims alone: no database read on the request path.
//! A token naming a plan the configuration does not know gets the `free` limit, never none.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;

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
    name: Arc<str>,
    /// This node's share of the plan's quota.
    per_minute: u32,
    limiter: Keyed,
}

/// The limiters for one number of live nodes.
struct Plans {
    nodes: usize,
    by_name: HashMap<String, PlanLimit>,
}

/// What the limiter decided for one request, with what the `RateLimit` headers need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The plan whose limit applied (`free` for an unknown plan).
    pub plan: Arc<str>,
    /// Requests per minute this node allows for that plan (the quota `q`, this node's share of
    /// it with several nodes; the window `w` is 60 s).
    pub per_minute: u32,
    /// Requests left right now (`r`).
    pub remaining: u32,
    /// Seconds until the quota is whole again (`t`); on a refusal, until the next request may
    /// pass (also the `Retry-After`).
    pub reset_secs: u64,
}

/// One keyed GCRA limiter per plan.
pub struct PlanLimiter {
    limits: RateLimits,
    plans: ArcSwap<Plans>,
    clock: LimiterClock,
    /// The live nodes sharing the quotas (1 alone), as the follower last saw them.
    nodes: Arc<AtomicUsize>,
    rebuilding: std::sync::Mutex<()>,
}

impl std::fmt::Debug for PlanLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.plans.load();
        let mut plans: Vec<(&str, u32)> = current
            .by_name
            .values()
            .map(|p| (&*p.name, p.per_minute))
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
        Self::shared(limits, clock, Arc::new(AtomicUsize::new(1)))
    }

    /// As [`PlanLimiter::new`], each quota shared with the live nodes `nodes` counts.
    pub fn shared(
        limits: &RateLimits,
        clock: Clock,
        nodes: Arc<AtomicUsize>,
    ) -> Option<PlanLimiter> {
        if !limits.enabled {
            return None;
        }
        let clock = LimiterClock(clock);
        let plans = build(limits, &clock, nodes.load(Ordering::Acquire).max(1));
        Some(PlanLimiter {
            limits: limits.clone(),
            plans: ArcSwap::from_pointee(plans),
            clock,
            nodes,
            rebuilding: std::sync::Mutex::new(()),
        })
    }

    /// The limiters for the live nodes now: rebuilt (their counts starting afresh) when that
    /// number changed, which is rare.
    fn plans(&self) -> arc_swap::Guard<Arc<Plans>> {
        let nodes = self.nodes.load(Ordering::Acquire).max(1);
        let plans = self.plans.load();
        if plans.nodes == nodes {
            return plans;
        }
        drop(plans);
        let _one = self
            .rebuilding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.plans.load().nodes != nodes {
            self.plans
                .store(Arc::new(build(&self.limits, &self.clock, nodes)));
        }
        self.plans.load()
    }

    /// Counts one request of the token's subject against the limit of the token's plan.
    /// Claims only: no database read on the request path.
    pub fn check(&self, claims: &Claims) -> Option<Decision> {
        let plans = self.plans();
        let limit = claims
            .plan
            .as_deref()
            .and_then(|p| plans.by_name.get(p))
            .or_else(|| plans.by_name.get(DEFAULT_PLAN))?;
        let per_minute = u64::from(limit.per_minute.max(1));
        // `&claims.sub` is already a `&String`: the hot path allocates no key.
        Some(match limit.limiter.check_key(&claims.sub) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let missing = u64::from(limit.per_minute.saturating_sub(remaining));
                Decision {
                    allowed: true,
                    plan: Arc::clone(&limit.name),
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
                    plan: Arc::clone(&limit.name),
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
        for plan in self.plans.load().by_name.values() {
            plan.limiter.retain_recent();
            plan.limiter.shrink_to_fit();
        }
    }

    /// Subjects tracked across all plans.
    pub fn len(&self) -> usize {
        self.plans
            .load()
            .by_name
            .values()
            .map(|p| p.limiter.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One limiter per plan, each allowing its quota divided by `nodes`, rounded up.
fn build(limits: &RateLimits, clock: &LimiterClock, nodes: usize) -> Plans {
    let nodes_u32 = u32::try_from(nodes).unwrap_or(u32::MAX).max(1);
    let by_name = limits
        .per_minute
        .iter()
        .filter_map(|(name, per_minute)| {
            let share = per_minute.div_ceil(nodes_u32);
            let quota = Quota::per_minute(NonZeroU32::new(share)?);
            let limiter = RateLimiter::dashmap_with_clock(quota, clock.clone())
                .with_middleware::<StateInformationMiddleware>();
            Some((
                name.clone(),
                PlanLimit {
                    name: Arc::from(name.as_str()),
                    per_minute: share,
                    limiter,
                },
            ))
        })
        .collect();
    Plans { nodes, by_name }
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
            (&*refused.plan, refused.per_minute, refused.reset_secs),
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
    fn with_three_live_nodes_each_allows_a_third_rounded_up_and_follows_a_change() {
        let clock = Clock::manual(1_800_000_000);
        let nodes = Arc::new(AtomicUsize::new(3));
        let limiter = PlanLimiter::shared(
            &"free=61".parse().expect("limits"),
            clock,
            Arc::clone(&nodes),
        )
        .expect("on");
        let allowed = (0..30)
            .filter(|_| limiter.check(&token("u", None)).expect("d").allowed)
            .count();
        assert_eq!(allowed, 21, "61 / 3, rounded up");
        nodes.store(1, Ordering::Release);
        let d = limiter.check(&token("u", None)).expect("d");
        assert_eq!(
            (d.allowed, d.per_minute),
            (true, 61),
            "alone again: the whole quota"
        );
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
        assert_eq!((refused.allowed, &*refused.plan), (false, "free"));
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
