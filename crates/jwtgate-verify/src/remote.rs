//! The remote JWKS (feature `remote`): the keys of a trusted issuer, fetched from its JWKS URL
//! and kept current, for resource servers that verify its tokens; and jwtgate's revocation
//! feed ([`RevocationFeed`], in `remote/feed.rs`), which keeps their revocation view current.
//!
//! Owns [`RemoteJwks`], its builder and [`RemoteError`]. It owns the *keys* of the
//! [`Verifier`] it is given (through [`Verifier::set_keys`]); nothing else should set them.
//! Imports reqwest and tokio, never axum or anything of the jwtgate server, and never logs:
//! failures are returned as [`RemoteError`] for the application to log.
//!
//! # When keys are fetched
//!
//! - once at start ([`RemoteJwksBuilder::connect`]);
//! - in the background ([`RemoteJwks::run`]) when the last answer's `Cache-Control: max-age`
//!   (minus `Age`) runs out, bounded to 30 s ..= 24 h, 5 min when absent. After a failure, the
//!   next attempt comes after the lower bound;
//! - at once when a token names an unknown `kid`: that is how a key rotation shows up before
//!   the cached set expires (peers that wait for expiry reject every new token meanwhile).
//!   To stop forged `kid`s from turning us into a load generator against the issuer, such
//!   fetches happen at most once per cooldown (30 s). All callers that arrive while a fetch is
//!   in flight wait for that one fetch instead of starting their own, then retry once.
//!
//! A failed fetch (issuer down, an error status, a body that is not a usable JWKS, larger than
//! 256 KiB, or with no usable key) never replaces the keys: the last good set keeps verifying.
//!
//! The issuer should publish a new key before signing with it, so that verifiers rarely depend
//! on the unknown-`kid` path at all.
//!
//! # Use
//!
//! ```no_run
//! use std::sync::Arc;
//! use jwtgate_verify::{KeySet, Policy, Verifier};
//! use jwtgate_verify::remote::RemoteJwks;
//!
//! # async fn example(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let policy = Policy::issued_by("https://auth.example.com").for_audience("orders");
//! let verifier = Verifier::new(KeySet::empty(), policy);
//! let jwks = "https://auth.example.com/.well-known/jwks.json";
//! let remote = Arc::new(RemoteJwks::connect(jwks, Arc::new(verifier.with_cache(10_000))).await?);
//! tokio::spawn(Arc::clone(&remote).run(std::future::pending()));
//! let claims = remote.verify(token).await?;
//! # Ok(())
//! # }
//! ```
//!
//! With the `axum` feature, `jwtgate_verify::axum::Auth::remote(remote)` gives the extractors
//! the same refetch-on-unknown-`kid` behaviour.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AGE, CACHE_CONTROL, HeaderMap, HeaderValue};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

use crate::{Algorithm, Claims, Error, Jwks, KeyError, KeySet, Verifier};

mod feed;
pub use feed::{
    DEFAULT_MAX_STALENESS, FeedStatus, RevocationFeed, RevocationFeedBuilder, WhenStale,
};

/// Least time between two fetches triggered by unknown `kid`s.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(30);
/// Lower bound on the time a fetched JWKS is kept; also the retry delay after a failure.
pub const DEFAULT_MIN_MAX_AGE: Duration = Duration::from_secs(30);
/// Upper bound on the time a fetched JWKS is kept.
pub const DEFAULT_MAX_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long a JWKS is kept when the response has no `max-age`.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(5 * 60);
/// Time allowed to establish a connection to the issuer.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for a whole fetch, body included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JWKS response accepted, in bytes.
pub const DEFAULT_MAX_BODY: usize = 256 * 1024;

type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// Why a fetch of the issuer's JWKS failed. The keys in use are unchanged.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The URL does not parse, or is not `http`/`https`.
    #[error("JWKS URL is not a valid http(s) URL")]
    InvalidUrl,
    /// Plain `http` to a host other than loopback, without
    /// [`RemoteJwksBuilder::allow_plain_http`]: anyone on the path could substitute keys.
    #[error("JWKS URL must use https (plain http only for loopback or when explicitly allowed)")]
    InsecureUrl,
    /// Connecting, sending or reading failed, or timed out.
    #[error("JWKS request failed")]
    Http(#[source] reqwest::Error),
    /// The issuer answered with a status other than 2xx.
    #[error("JWKS endpoint answered HTTP {0}")]
    Status(u16),
    /// The response was larger than the configured cap.
    #[error("JWKS response larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The body is not a JWK Set.
    #[error("JWKS response is not a JSON Web Key Set")]
    Json(#[source] serde_json::Error),
    /// A key in the set is malformed or too weak.
    #[error("JWKS holds an unusable key")]
    Keys(#[source] KeyError),
    /// The set holds no key usable for signatures (RSA keys without `alg` are skipped unless
    /// [`RemoteJwksBuilder::rsa_keys_without_alg_as`] says what they are for).
    #[error("JWKS holds no usable signature key")]
    NoKeys,
    /// The fetch task was cancelled (the runtime is shutting down).
    #[error("JWKS fetch did not complete")]
    Cancelled,
}

impl RemoteError {
    /// Drops the URL from reqwest's error: it is configuration, but may carry credentials.
    fn http(err: reqwest::Error) -> RemoteError {
        RemoteError::Http(err.without_url())
    }
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    cooldown: Duration,
    min_max_age: Duration,
    max_max_age: Duration,
    default_max_age: Duration,
    max_body: usize,
}

impl Limits {
    /// How long the response's keys may be used (RFC 9111 §4.2.1 and §4.2.3), bounded.
    fn freshness(&self, headers: &HeaderMap) -> Duration {
        let lifetime = match max_age(headers) {
            Some(max_age) => Duration::from_secs(max_age.saturating_sub(age(headers))),
            None => self.default_max_age,
        };
        // Not `clamp`, which panics when the bounds cross.
        lifetime.min(self.max_max_age).max(self.min_max_age)
    }
}

/// `max-age` across every `Cache-Control` header; `no-cache` and `no-store` count as 0. If
/// there are several, the smallest wins, so a confused header never keeps old keys longer.
fn max_age(headers: &HeaderMap) -> Option<u64> {
    let mut smallest: Option<u64> = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), argument.trim().trim_matches('"')),
                None => (directive.trim(), ""),
            };
            let seconds = if name.eq_ignore_ascii_case("max-age") {
                delta_seconds(argument)
            } else if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store")
            {
                0
            } else {
                continue;
            };
            smallest = Some(smallest.map_or(seconds, |s| s.min(seconds)));
        }
    }
    smallest
}

/// RFC 9111 §1.2.2 delta-seconds: too large saturates; invalid counts as 0 (stale), so a
/// broken header shortens the cache rather than lengthening it.
fn delta_seconds(text: &str) -> u64 {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    text.parse().unwrap_or(u64::MAX)
}

fn age(headers: &HeaderMap) -> u64 {
    headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .map_or(0, |v| delta_seconds(v.trim()))
}

/// Configures a [`RemoteJwks`]; every setting has a safe default.
pub struct RemoteJwksBuilder {
    url: String,
    verifier: Arc<Verifier>,
    limits: Limits,
    connect_timeout: Duration,
    timeout: Duration,
    allow_plain_http: bool,
    rsa_alg: Option<Algorithm>,
    clock: Clock,
}

impl fmt::Debug for RemoteJwksBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwksBuilder")
            .field("url", &self.url)
            .field("limits", &self.limits)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("allow_plain_http", &self.allow_plain_http)
            .field("rsa_alg", &self.rsa_alg)
            .finish_non_exhaustive()
    }
}

impl RemoteJwksBuilder {
    /// Least time between two fetches triggered by unknown `kid`s (default 30 s).
    #[must_use]
    pub fn cooldown(mut self, cooldown: Duration) -> Self {
        self.limits.cooldown = cooldown;
        self
    }

    /// Bounds on the time a fetched set is kept before the background refresh (default
    /// 30 s ..= 24 h); the lower bound is also the retry delay after a failed fetch (never
    /// less than 1 s). If `max` is below `min`, it is raised to `min`.
    #[must_use]
    pub fn max_age_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.limits.min_max_age = min;
        self.limits.max_max_age = max.max(min);
        self
    }

    /// How long a set is kept when the response has no `max-age` (default 5 min), within the
    /// bounds.
    #[must_use]
    pub fn default_max_age(mut self, max_age: Duration) -> Self {
        self.limits.default_max_age = max_age;
        self
    }

    /// Connection and whole-request timeouts (default 5 s and 10 s).
    #[must_use]
    pub fn timeouts(mut self, connect: Duration, total: Duration) -> Self {
        self.connect_timeout = connect;
        self.timeout = total;
        self
    }

    /// Largest accepted response, in bytes (default 256 KiB).
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.limits.max_body = bytes;
        self
    }

    /// Allows a plain `http` URL to a non-loopback host (a private network you trust). Off by
    /// default: whoever can alter the response can mint tokens we accept.
    #[must_use]
    pub fn allow_plain_http(mut self) -> Self {
        self.allow_plain_http = true;
        self
    }

    /// Reads RSA keys published without `alg` as keys for `alg` (`RS256` or `PS256`) instead
    /// of skipping them, as [`KeySet::from_jwks_assuming`] does: for issuers such as node
    /// `jose`, PyJWT and Microsoft Entra, whose JWKS name no `alg`. Off by default. An
    /// assumption: such a key then verifies `alg` and nothing else.
    #[must_use]
    pub fn rsa_keys_without_alg_as(mut self, alg: Algorithm) -> Self {
        self.rsa_alg = Some(alg);
        self
    }

    /// The monotonic clock for cooldowns and refresh deadlines (default [`Instant::now`]), so
    /// tests can move time without sleeping. The background task still sleeps in real time,
    /// for the duration this clock says is left.
    #[must_use]
    pub fn clock(mut self, clock: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Builds without fetching: the verifier keeps the keys it has until the first fetch
    /// (an unknown `kid` or [`RemoteJwks::refresh`] triggers one).
    ///
    /// # Errors
    /// [`RemoteError::InvalidUrl`], [`RemoteError::InsecureUrl`],
    /// [`RemoteError::Keys`] if [`RemoteJwksBuilder::rsa_keys_without_alg_as`] names no RSA
    /// algorithm, or [`RemoteError::Http`] if the HTTP client cannot be built.
    pub fn build(self) -> Result<RemoteJwks, RemoteError> {
        let rsa_alg = self
            .rsa_alg
            .map(crate::key::rsa_assumption)
            .transpose()
            .map_err(RemoteError::Keys)?;
        let url = reqwest::Url::parse(&self.url).map_err(|_| RemoteError::InvalidUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_plain_http || is_loopback(&url) => {}
            "http" => return Err(RemoteError::InsecureUrl),
            _ => return Err(RemoteError::InvalidUrl),
        }
        let client = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            // A few redirects for CDNs, and never from https down to http.
            .redirect(reqwest::redirect::Policy::limited(3))
            .https_only(url.scheme() == "https")
            .build()
            .map_err(RemoteError::http)?;
        let now = (self.clock)();
        let remote = RemoteJwks {
            inner: Arc::new(Inner {
                url,
                client,
                verifier: self.verifier,
                limits: self.limits,
                rsa_alg,
                fetch: Arc::new(Mutex::new(FetchState::default())),
                attempts: AtomicU64::new(0),
                finished: Notify::new(),
                next_refresh: std::sync::Mutex::new(now),
                clock: self.clock,
            }),
        };
        // The synchronous `Verifier::verify` cannot wait for a fetch; it starts one in the
        // background (same single flight and cooldown), so the next call has the new key.
        // Weak: the verifier must not keep the remote alive.
        let weak = Arc::downgrade(&remote.inner);
        remote.inner.verifier.unknown_kid_hook().set(move || {
            let (Some(inner), Ok(runtime)) =
                (weak.upgrade(), tokio::runtime::Handle::try_current())
            else {
                return;
            };
            let seen = inner.attempts.load(Ordering::Acquire);
            runtime.spawn(async move {
                RemoteJwks { inner }.refetch_for_unknown_kid(seen).await;
            });
        });
        Ok(remote)
    }

    /// Builds and fetches the keys once, failing if that fetch fails.
    ///
    /// # Errors
    /// As [`RemoteJwksBuilder::build`] and [`RemoteJwks::refresh`].
    pub async fn connect(self) -> Result<RemoteJwks, RemoteError> {
        let remote = self.build()?;
        remote.refresh().await?;
        Ok(remote)
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// A trusted issuer's JWKS, kept in a [`Verifier`]. See the module documentation.
///
/// Needs a Tokio runtime: fetches run as tasks of their own, so that a caller who goes away
/// mid-fetch (a client hanging up) cannot cancel the fetch others are waiting for.
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

struct Inner {
    url: reqwest::Url,
    client: reqwest::Client,
    verifier: Arc<Verifier>,
    limits: Limits,
    /// What RSA keys without `alg` are read as, if anything.
    rsa_alg: Option<Algorithm>,
    clock: Clock,
    /// Held for the whole of a fetch, which is what makes it the single one in flight.
    fetch: Arc<Mutex<FetchState>>,
    /// Finished fetch attempts. Bumped before the lock is released, so a caller that saw an
    /// unknown `kid` under count `n` and finds `n + 1` once it holds the lock knows newer keys
    /// (or a fresh failure) are there, and retries instead of fetching again.
    attempts: AtomicU64,
    /// Woken after every finished fetch attempt (see [`RemoteJwks::fetched`]).
    finished: Notify,
    next_refresh: std::sync::Mutex<Instant>,
}

#[derive(Default)]
struct FetchState {
    /// When the last unknown-`kid` fetch started (the cooldown's reference point). Background
    /// refreshes do not count: a rotation just after one must still be picked up at once.
    last_on_demand: Option<Instant>,
    /// The last JWKS applied; an unchanged set is not re-applied, which would empty the
    /// verifier's cache for nothing.
    last_good: Option<Jwks>,
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("url", &self.inner.url.as_str())
            .field("limits", &self.inner.limits)
            .field("next_refresh", &self.next_refresh())
            .finish_non_exhaustive()
    }
}

impl RemoteJwks {
    /// A builder for the JWKS at `url`, whose keys go into `verifier`.
    #[must_use]
    pub fn builder(url: impl Into<String>, verifier: Arc<Verifier>) -> RemoteJwksBuilder {
        RemoteJwksBuilder {
            url: url.into(),
            verifier,
            limits: Limits {
                cooldown: DEFAULT_COOLDOWN,
                min_max_age: DEFAULT_MIN_MAX_AGE,
                max_max_age: DEFAULT_MAX_MAX_AGE,
                default_max_age: DEFAULT_MAX_AGE,
                max_body: DEFAULT_MAX_BODY,
            },
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            allow_plain_http: false,
            rsa_alg: None,
            clock: Arc::new(Instant::now),
        }
    }

    /// With the defaults: fetches the JWKS at `url` into `verifier` once, failing if that
    /// fetch fails.
    ///
    /// # Errors
    /// As [`RemoteJwksBuilder::connect`].
    pub async fn connect(
        url: impl Into<String>,
        verifier: Arc<Verifier>,
    ) -> Result<RemoteJwks, RemoteError> {
        RemoteJwks::builder(url, verifier).connect().await
    }

    /// The verifier whose keys this keeps current.
    #[must_use]
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.inner.verifier
    }

    /// The JWKS URL.
    #[must_use]
    pub fn url(&self) -> &str {
        self.inner.url.as_str()
    }

    /// How many fetches of the JWKS have finished so far, successful or not.
    #[must_use]
    pub fn fetches(&self) -> u64 {
        self.inner.attempts.load(Ordering::Acquire)
    }

    /// Resolves once more than `seen` fetches have finished (`seen` from
    /// [`RemoteJwks::fetches`]): a way to wait for the keys to be fetched again without
    /// guessing how long that takes.
    pub async fn fetched(&self, seen: u64) {
        loop {
            let notified = self.inner.finished.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the count is read, so a fetch ending in between is not missed.
            notified.as_mut().enable();
            if self.fetches() > seen {
                return;
            }
            notified.await;
        }
    }

    /// When the background task will fetch next, on this instance's clock.
    #[must_use]
    pub fn next_refresh(&self) -> Instant {
        *self
            .inner
            .next_refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Verifies `token` at the current time; on an unknown `kid`, refetches the JWKS (shared,
    /// at most once per cooldown) and tries once more.
    ///
    /// # Errors
    /// Any [`Error`], as [`Verifier::verify`].
    pub async fn verify(&self, token: &str) -> Result<Arc<Claims>, Error> {
        self.verify_with(|verifier| verifier.verify(token)).await
    }

    /// As [`RemoteJwks::verify`], as of `now` (seconds since the epoch).
    ///
    /// # Errors
    /// Any [`Error`], as [`Verifier::verify_at`].
    pub async fn verify_at(&self, token: &str, now: i64) -> Result<Arc<Claims>, Error> {
        self.verify_with(|verifier| verifier.verify_at(token, now))
            .await
    }

    async fn verify_with(
        &self,
        verify: impl Fn(&Verifier) -> Result<Arc<Claims>, Error>,
    ) -> Result<Arc<Claims>, Error> {
        // Read before verifying: any fetch that finishes after this point may hold our kid.
        let seen = self.inner.attempts.load(Ordering::Acquire);
        match verify(&self.inner.verifier) {
            Err(Error::UnknownKey) => {}
            verdict => return verdict,
        }
        if self.refetch_for_unknown_kid(seen).await {
            verify(&self.inner.verifier)
        } else {
            Err(Error::UnknownKey)
        }
    }

    /// Whether keys may have changed since attempt `seen`, fetching them if allowed.
    async fn refetch_for_unknown_kid(&self, seen: u64) -> bool {
        let mut state = Arc::clone(&self.inner.fetch).lock_owned().await;
        if self.inner.attempts.load(Ordering::Acquire) != seen {
            // Someone fetched while we verified or waited: use their result, do not refetch.
            return true;
        }
        let now = (self.inner.clock)();
        if state
            .last_on_demand
            .is_some_and(|at| now.saturating_duration_since(at) < self.inner.limits.cooldown)
        {
            return false;
        }
        // Set before fetching, so a failing issuer is not asked again within the cooldown.
        state.last_on_demand = Some(now);
        matches!(spawn_fetch(&self.inner, state).await, Ok(Ok(())))
    }

    /// Fetches the JWKS now (waiting for a fetch in flight first) and applies it if usable.
    ///
    /// # Errors
    /// Any [`RemoteError`]; the keys in use are then unchanged.
    pub async fn refresh(&self) -> Result<(), RemoteError> {
        let state = Arc::clone(&self.inner.fetch).lock_owned().await;
        spawn_fetch(&self.inner, state)
            .await
            .map_err(|_| RemoteError::Cancelled)?
    }

    /// Refreshes the keys whenever [`RemoteJwks::next_refresh`] comes, until `shutdown`
    /// completes. Spawn it: `tokio::spawn(remote.clone().run(shutdown))`. Failures keep the
    /// old keys and are retried after the lower max-age bound; they are not reported here
    /// (call [`RemoteJwks::refresh`] to see them).
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let wait = self
                .next_refresh()
                .saturating_duration_since((self.inner.clock)());
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(wait) => {}
            }
            // An unknown-kid fetch may have moved the deadline while we slept.
            if self.next_refresh() > (self.inner.clock)() {
                continue;
            }
            tokio::select! {
                () = &mut shutdown => return,
                _ = self.refresh() => {}
            }
        }
    }
}

/// Runs one fetch as its own task, holding the fetch lock until it is applied.
fn spawn_fetch(
    inner: &Arc<Inner>,
    mut state: OwnedMutexGuard<FetchState>,
) -> tokio::task::JoinHandle<Result<(), RemoteError>> {
    let inner = Arc::clone(inner);
    tokio::spawn(async move {
        let result = inner.fetch_and_apply(&mut state).await;
        inner.attempts.fetch_add(1, Ordering::AcqRel);
        drop(state);
        inner.finished.notify_waiters();
        result
    })
}

impl Inner {
    async fn fetch_and_apply(&self, state: &mut FetchState) -> Result<(), RemoteError> {
        let fetched = self.fetch().await;
        let now = (self.clock)();
        let (result, keep_for) = match fetched {
            Ok((jwks, keys, keep_for)) => {
                if state.last_good.as_ref() != Some(&jwks) {
                    self.verifier.set_keys(keys);
                    state.last_good = Some(jwks);
                }
                (Ok(()), keep_for)
            }
            // At least a second, whatever the bounds: a failing issuer must never be retried
            // in a tight loop.
            Err(err) => (
                Err(err),
                self.limits.min_max_age.max(Duration::from_secs(1)),
            ),
        };
        *self
            .next_refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = now.checked_add(keep_for).unwrap_or(now);
        result
    }

    async fn fetch(&self) -> Result<(Jwks, KeySet, Duration), RemoteError> {
        let mut response = self
            .client
            .get(self.url.clone())
            .header(
                ACCEPT,
                HeaderValue::from_static("application/jwk-set+json, application/json"),
            )
            .send()
            .await
            .map_err(RemoteError::http)?;
        let status = response.status();
        if !status.is_success() {
            return Err(RemoteError::Status(status.as_u16()));
        }
        let keep_for = self.limits.freshness(response.headers());

        // Read incrementally and stop at the cap: a hostile or broken endpoint must not make
        // us buffer an unbounded body (Content-Length may be absent or lie).
        let limit = self.limits.max_body;
        let too_large = RemoteError::TooLarge { limit };
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(too_large);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(RemoteError::http)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }

        let jwks: Jwks = serde_json::from_slice(&body).map_err(RemoteError::Json)?;
        let keys = match self.rsa_alg {
            Some(alg) => KeySet::from_jwks_assuming(&jwks, alg),
            None => KeySet::from_jwks(&jwks),
        }
        .map_err(RemoteError::Keys)?;
        if keys.is_empty() {
            return Err(RemoteError::NoKeys);
        }
        Ok((jwks, keys, keep_for))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_control(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(CACHE_CONTROL, HeaderValue::from_str(value).expect("header"));
        }
        headers
    }

    #[test]
    fn max_age_is_read_from_any_cache_control_header() {
        assert_eq!(max_age(&cache_control(&["public, max-age=600"])), Some(600));
        assert_eq!(max_age(&cache_control(&["MAX-AGE=\"60\""])), Some(60));
        assert_eq!(max_age(&cache_control(&["public", "max-age=60"])), Some(60));
        assert_eq!(max_age(&cache_control(&["public"])), None);
        assert_eq!(max_age(&cache_control(&[])), None);
    }

    #[test]
    fn confused_cache_control_shortens_rather_than_lengthens() {
        assert_eq!(
            max_age(&cache_control(&["max-age=600, max-age=60"])),
            Some(60)
        );
        assert_eq!(max_age(&cache_control(&["max-age=soon"])), Some(0));
        assert_eq!(max_age(&cache_control(&["max-age=-5"])), Some(0));
        assert_eq!(max_age(&cache_control(&["no-cache, max-age=600"])), Some(0));
        assert_eq!(
            max_age(&cache_control(&["max-age=99999999999999999999999"])),
            Some(u64::MAX)
        );
    }

    #[test]
    fn freshness_subtracts_age_and_stays_within_bounds() {
        let limits = Limits {
            cooldown: DEFAULT_COOLDOWN,
            min_max_age: DEFAULT_MIN_MAX_AGE,
            max_max_age: DEFAULT_MAX_MAX_AGE,
            default_max_age: DEFAULT_MAX_AGE,
            max_body: DEFAULT_MAX_BODY,
        };
        let mut headers = cache_control(&["max-age=600"]);
        headers.insert(AGE, HeaderValue::from_static("100"));
        assert_eq!(limits.freshness(&headers), Duration::from_secs(500));
        assert_eq!(limits.freshness(&cache_control(&[])), DEFAULT_MAX_AGE);
        assert_eq!(
            limits.freshness(&cache_control(&["max-age=1"])),
            DEFAULT_MIN_MAX_AGE
        );
        assert_eq!(
            limits.freshness(&cache_control(&["max-age=999999999"])),
            DEFAULT_MAX_MAX_AGE
        );
    }

    #[test]
    fn plain_http_is_only_for_loopback() {
        let verifier = Arc::new(Verifier::new(
            KeySet::empty(),
            crate::Policy::new("https://issuer", "api"),
        ));
        let build = |url: &str| RemoteJwks::builder(url, Arc::clone(&verifier)).build();
        assert!(build("http://127.0.0.1:8080/jwks").is_ok());
        assert!(build("http://[::1]:8080/jwks").is_ok());
        assert!(build("http://localhost/jwks").is_ok());
        assert!(build("https://issuer.example/jwks").is_ok());
        assert!(matches!(
            build("http://issuer.example/jwks"),
            Err(RemoteError::InsecureUrl)
        ));
        assert!(matches!(
            build("ftp://x/jwks"),
            Err(RemoteError::InvalidUrl)
        ));
        assert!(matches!(build("not a url"), Err(RemoteError::InvalidUrl)));
        assert!(
            RemoteJwks::builder("http://issuer.internal/jwks", Arc::clone(&verifier))
                .allow_plain_http()
                .build()
                .is_ok()
        );
    }
}
