//! The verification policy: one definition of a valid token, applied in a fixed order.
//!
//! Owns [`Policy`] and [`Verifier`]. Order of checks, cheapest and most structural first, and
//! nothing read from the payload before the signature holds:
//!
//! 1. length cap ([`Policy::with_max_token_len`], default 8 KiB), before any decoding;
//! 2. exactly three non-empty segments of canonical, unpadded base64url;
//! 3. the header is a UTF-8 JSON object with no duplicate keys holding only `alg`, `typ` and
//!    `kid`, all strings (`jwk`, `jku`, `x5u`, `x5c`, `crit`, `b64`, `zip`, `cty`... refused),
//!    and any parameters the policy ignores ([`Policy::ignore_header_params`], such as `x5t`:
//!    read as strictly, then ignored; never one of those just listed);
//! 4. the key is found by `kid` (a header without `kid` is refused, unless
//!    [`Policy::allow_missing_kid_with_single_key`] and the key set holds exactly one key,
//!    which is then the key); the header's `alg` must equal, byte for byte, the algorithm
//!    bound to that key: the algorithm is never chosen by the token (RFC 8725 §3.1), so `none`,
//!    `None`, `hs256` and key confusion (HS256 keyed with a public key) all fail here; an EdDSA
//!    key also takes its RFC 9864 name `Ed25519` (never `Ed448`), no other key does;
//! 5. `typ` must be the expected type (RFC 8725 §3.11); access tokens are `at+jwt` (RFC 9068),
//!    compared case-insensitively with an optional `application/` prefix (RFC 7515 §4.1.9), so
//!    no other kind of token can stand in for an access token. [`Policy::allow_typ`] adds types
//!    (`JWT`), [`Policy::allow_missing_typ`] accepts a header without `typ`;
//! 6. the signature verifies (HMAC compared in constant time; ECDSA only in fixed r||s form,
//!    which rejects DER and r = s = 0; Ed25519 rejects non-canonical S);
//! 7. the payload is a UTF-8 JSON object, no duplicate keys at any depth, with `iss`, `sub`,
//!    `aud` (string or array of strings), `exp`, `iat` (integers in 0..=9999-12-31) and `jti`
//!    present and correctly typed (`sub` and `jti` non-empty; a mistyped copy of a claim is
//!    still a duplicate); `nbf`, `sid`, `roles`, `plan`, `email` typed when present. `jti` may
//!    be absent under [`Policy::allow_missing_jti`], `iat` under [`Policy::allow_missing_iat`];
//! 8. `iss` equals the configured issuer (or one of [`Policy::also_issuer`]) and `aud` contains
//!    the configured audience (or one of [`Policy::also_audience`]);
//! 9. `exp - iat` is at most [`Policy::with_max_lifetime`] (without `iat`, see step 10);
//! 10. time, against `now` with the leeway (default 30 s, at most 5 min): `exp` not passed,
//!     `nbf` reached, `iat` not in the future; a token without `iat` instead has at most the
//!     maximum lifetime (plus the leeway) left: `exp - now`;
//! 11. the revocation view, if any.
//!
//! Every relaxation is off in [`Policy::new`], the profile of jwtgate's own tokens;
//! [`Policy::for_other_issuers`] turns on the usual set. None touches steps 1, 2, 6, 8, 10
//! (but for the lifetime without `iat`) or 11, the algorithm of step 4, or the refusals of
//! step 3.
//!
//! With the cache enabled, a token seen before (exact bytes) skips steps 2 to 9; steps 10 and
//! 11 run on every call. A verdict is kept from a token's second verification on (see
//! [`Doorkeeper`]), so tokens used once never displace the verdicts of tokens in use.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use crate::b64::{self, decode_small};
use crate::claims::Optional;
use crate::json::{HeaderSeed, Loose, NEVER_IGNORED};
use crate::{Algorithm, Claims, Error, Key, KeySet, RevocationView};

/// The `typ` of jwtgate access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Default cap on the token length, checked before any decoding.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// Default clock-skew allowance, in seconds.
pub const DEFAULT_LEEWAY: u32 = 30;
/// The largest leeway a policy accepts, in seconds; larger values are clamped to it.
pub const MAX_LEEWAY: u32 = 300;
/// Default maximum `exp - iat`, in seconds.
pub const DEFAULT_MAX_LIFETIME: u32 = 3600;

/// A header larger than this (decoded) cannot be one jwtgate accepts: it holds at most three
/// short strings.
const MAX_HEADER_BYTES: usize = 1024;
/// The largest signature of any supported algorithm (RSA 8192) is 1024 bytes.
const MAX_SIGNATURE_BYTES: usize = 1024;
/// Room for every non-RSA signature (ES384 is 96 bytes) and the decoder's length estimate.
const SMALL_SIGNATURE_BYTES: usize = 128;
/// Payloads up to this size (decoded) are read from a stack buffer, larger ones from the heap.
/// 1 KiB holds jwtgate's tokens with room to spare; zeroing more cost as much as a malloc.
const STACK_PAYLOAD_BYTES: usize = 1024;

/// What a verifier accepts: issuer, audience, token type, clock leeway and limits.
///
/// [`Policy::new`] is the strict profile of jwtgate's own tokens. Tokens of other issuers
/// (node `jose`, PyJWT, Microsoft Entra, ...) often lack what it requires; each difference has
/// a named switch that relaxes exactly it, and [`Policy::for_other_issuers`] turns on the usual
/// set. No switch relaxes the algorithm bound to the key, `crit`, keys carried in the token
/// (`jwk`, `jku`, `x5u`, `x5c`), duplicate keys, the signature, `exp`/`nbf`, `iss` or `aud`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    issuer: String,
    audience: String,
    /// Issuers accepted beside `issuer` ([`Policy::also_issuer`]).
    other_issuers: Vec<String>,
    /// Audiences accepted beside `audience` ([`Policy::also_audience`]).
    other_audiences: Vec<String>,
    typ: String,
    /// Types accepted beside `typ` ([`Policy::allow_typ`]).
    other_typs: Vec<String>,
    /// A header without `typ` passes ([`Policy::allow_missing_typ`]).
    missing_typ: bool,
    /// A header without `kid` uses the set's only key
    /// ([`Policy::allow_missing_kid_with_single_key`]).
    missing_kid: bool,
    /// Which of `jti` and `iat` a token may leave out.
    optional: Optional,
    /// Header parameters read and ignored ([`Policy::ignore_header_params`]).
    ignored_header_params: Vec<String>,
    leeway: i64,
    max_lifetime: i64,
    max_token_len: usize,
}

/// The first half of a [`Policy`]: who issues the tokens. Its one method names the other half,
/// so the two strings cannot be swapped unnoticed:
/// `Policy::issued_by("https://auth.example.com").for_audience("orders")`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a policy needs its audience: .for_audience(...)"]
pub struct PolicyIssuer(String);

impl PolicyIssuer {
    /// The policy for tokens of this issuer meant for `audience` (as [`Policy::new`]).
    pub fn for_audience(self, audience: impl Into<String>) -> Policy {
        Policy::new(self.0, audience)
    }
}

impl Policy {
    /// Starts a policy for tokens issued by `issuer` (its `iss`, exactly); the audience follows
    /// by name: `Policy::issued_by(iss).for_audience(aud)`.
    pub fn issued_by(issuer: impl Into<String>) -> PolicyIssuer {
        PolicyIssuer(issuer.into())
    }

    /// A policy for access tokens (`typ: at+jwt`) of `issuer` meant for `audience`: the
    /// strict profile of jwtgate's own tokens, every relaxation off. The issuer comes first;
    /// [`Policy::issued_by`] says so by name.
    #[must_use]
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Policy {
        Policy {
            issuer: issuer.into(),
            audience: audience.into(),
            other_issuers: Vec::new(),
            other_audiences: Vec::new(),
            typ: ACCESS_TOKEN_TYP.to_owned(),
            other_typs: Vec::new(),
            missing_typ: false,
            missing_kid: false,
            optional: Optional::NONE,
            ignored_header_params: Vec::new(),
            leeway: i64::from(DEFAULT_LEEWAY),
            max_lifetime: i64::from(DEFAULT_MAX_LIFETIME),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }

    /// Accept this token type instead of `at+jwt` (for single-use tokens, say).
    #[must_use]
    pub fn with_typ(mut self, typ: impl Into<String>) -> Policy {
        self.typ = typ.into();
        self
    }

    /// The usual relaxations for tokens of other issuers, all at once:
    /// [`Policy::allow_missing_typ`], [`Policy::allow_typ`]`(["JWT"])`,
    /// [`Policy::allow_missing_kid_with_single_key`], [`Policy::allow_missing_jti`],
    /// [`Policy::allow_missing_iat`] and [`Policy::ignore_header_params`]`(["x5t", "x5t#S256"])`.
    ///
    /// This is what node `jose` (no `typ` unless set, no `kid`, no `iat` or `jti` unless set),
    /// PyJWT (`typ: JWT`, no `kid`) and Microsoft Entra (`typ: JWT`, `x5t`) issue. Their
    /// JWKS name no `alg` for RSA keys: read it with [`crate::KeySet::from_jwks_assuming`].
    #[must_use]
    pub fn for_other_issuers(self) -> Policy {
        self.allow_missing_typ()
            .allow_typ(["JWT"])
            .allow_missing_kid_with_single_key()
            .allow_missing_jti()
            .allow_missing_iat()
            .ignore_header_params(["x5t", "x5t#S256"])
    }

    /// Accepts a header without `typ` (node `jose`'s default).
    ///
    /// Gives up explicit typing (RFC 8725 §3.11) for such tokens: another kind of token of the
    /// same issuer, for the same audience and signed with the same key, would pass for an
    /// access token. A `typ` that is present must still be one this policy accepts.
    #[must_use]
    pub fn allow_missing_typ(mut self) -> Policy {
        self.missing_typ = true;
        self
    }

    /// Accepts these token types beside the policy's own (`at+jwt` unless
    /// [`Policy::with_typ`]), compared as that one is: case-insensitively, with an optional
    /// `application/` prefix. `JWT` is PyJWT's default and Microsoft's; it says only that the
    /// token is a JWT, so it gives up explicit typing as [`Policy::allow_missing_typ`] does.
    #[must_use]
    pub fn allow_typ<I, S>(mut self, typs: I) -> Policy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for typ in typs {
            let typ = typ.into();
            if !self.other_typs.contains(&typ) {
                self.other_typs.push(typ);
            }
        }
        self
    }

    /// Accepts a header without `kid` when the key set holds exactly one key, which is then
    /// the key (PyJWT and node `jose` write no `kid` unless told to). With several keys, a
    /// token without `kid` is still refused ([`Error::MissingHeader`]); with none,
    /// [`Error::UnknownKey`]. The header's `alg` must still be that key's algorithm.
    ///
    /// Such a token never triggers a remote JWKS refetch, which only an unknown `kid` does:
    /// once the issuer publishes a second key, its tokens need a `kid`.
    #[must_use]
    pub fn allow_missing_kid_with_single_key(mut self) -> Policy {
        self.missing_kid = true;
        self
    }

    /// Accepts a token without `jti`. [`Claims::jti`] is then empty ([`Claims::token_id`] is
    /// `None`), and such a token cannot be revoked by id, only by session or user cut-off.
    /// A `jti` that is present must still be a non-empty string.
    #[must_use]
    pub fn allow_missing_jti(mut self) -> Policy {
        self.optional.jti = true;
        self
    }

    /// Accepts a token without `iat`. [`Claims::iat`] is then [`Claims::NO_IAT`]
    /// ([`Claims::issued_at`] is `None`), so any per-user "issued before" cut-off refuses it.
    ///
    /// The lifetime is still bounded: without `iat`, what is left of it, `exp - now`, must be
    /// at most [`Policy::with_max_lifetime`] plus the leeway, checked at every verification
    /// (cached or not) with the other time checks. A token valid for longer than the maximum
    /// is refused until it is within the maximum of its expiry. An `iat` that is present is
    /// checked as always.
    #[must_use]
    pub fn allow_missing_iat(mut self) -> Policy {
        self.optional.iat = true;
        self
    }

    /// Lets a header carry these parameters beside `alg`, `typ` and `kid`; they are read (as
    /// strictly as the rest: no duplicates, at any depth) and ignored. For `x5t` and
    /// `x5t#S256`, certificate thumbprints Microsoft's tokens carry beside `kid`: the key is
    /// still found by `kid` alone.
    ///
    /// Parameters that must never be ignored are dropped from the list, so they stay refused
    /// ([`Error::ForbiddenHeader`]) whatever is passed here: `crit`; the keys a token could
    /// bring (`jwk`, `jku`, `x5u`, `x5c`); `b64`, `zip`, `cty`, which change how the payload is
    /// read; JWE's (`enc`, `epk`, `apu`, `apv`, `iv`, `tag`, `p2s`, `p2c`). `alg`, `typ`
    /// and `kid` are always read, never ignored. See [`Policy::ignored_header_params`].
    #[must_use]
    pub fn ignore_header_params<I, S>(mut self, names: I) -> Policy
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for name in names {
            let name = name.into();
            if !NEVER_IGNORED.contains(&name.as_str())
                && !self.ignored_header_params.contains(&name)
            {
                self.ignored_header_params.push(name);
            }
        }
        self
    }

    /// Clock-skew allowance in seconds, clamped to [`MAX_LEEWAY`].
    #[must_use]
    pub fn with_leeway(mut self, seconds: u32) -> Policy {
        self.leeway = i64::from(seconds.min(MAX_LEEWAY));
        self
    }

    /// Largest accepted `exp - iat`, in seconds.
    #[must_use]
    pub fn with_max_lifetime(mut self, seconds: u32) -> Policy {
        self.max_lifetime = i64::from(seconds);
        self
    }

    /// Largest accepted token, in bytes.
    #[must_use]
    pub fn with_max_token_len(mut self, bytes: usize) -> Policy {
        self.max_token_len = bytes;
        self
    }

    /// Also accept tokens whose `aud` names `audience` (a service answering to its own name
    /// and to a shared one, say). A token passes when its `aud` holds any accepted audience.
    #[must_use]
    pub fn also_audience(mut self, audience: impl Into<String>) -> Policy {
        self.other_audiences.push(audience.into());
        self
    }

    /// Also accept tokens of `issuer` (an issuer moving to a new URL, say). Keys are not tied
    /// to issuers: give the verifier only keys of issuers you trust for all of them.
    #[must_use]
    pub fn also_issuer(mut self, issuer: impl Into<String>) -> Policy {
        self.other_issuers.push(issuer.into());
        self
    }

    /// The expected issuer (the first, with [`Policy::also_issuer`]).
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn accepts_issuer(&self, iss: &str) -> bool {
        iss == self.issuer || self.other_issuers.iter().any(|other| other == iss)
    }

    fn accepts_audience(&self, aud: &crate::Audience) -> bool {
        aud.contains(&self.audience) || self.other_audiences.iter().any(|other| aud.contains(other))
    }

    /// The expected audience (the first, with [`Policy::also_audience`]).
    #[must_use]
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The expected `typ`.
    #[must_use]
    pub fn typ(&self) -> &str {
        &self.typ
    }

    /// The leeway in seconds.
    #[must_use]
    pub fn leeway(&self) -> i64 {
        self.leeway
    }

    /// The header parameters this policy ignores: those given to
    /// [`Policy::ignore_header_params`], less any that must never be ignored.
    #[must_use]
    pub fn ignored_header_params(&self) -> &[String] {
        &self.ignored_header_params
    }

    fn typ_matches(&self, typ: &str) -> bool {
        fn bare(t: &str) -> &str {
            match t.get(..12) {
                Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &t[12..],
                _ => t,
            }
        }
        let typ = bare(typ);
        typ.eq_ignore_ascii_case(bare(&self.typ))
            || self
                .other_typs
                .iter()
                .any(|other| typ.eq_ignore_ascii_case(bare(other)))
    }

    fn check_time(&self, claims: &Claims, now: i64) -> Result<(), Error> {
        if now >= claims.exp + self.leeway {
            return Err(Error::Expired);
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + self.leeway) {
            return Err(Error::NotYetValid);
        }
        match claims.issued_at() {
            Some(iat) if iat > now + self.leeway => return Err(Error::IssuedInFuture),
            Some(_) => {}
            // Only under `allow_missing_iat`: the part of the lifetime still ahead is bounded
            // instead of the whole (step 9 needs `iat`). Saturating: `now` may be anything.
            None => {
                if claims.exp.saturating_sub(now) > self.max_lifetime + self.leeway {
                    return Err(Error::LifetimeTooLong);
                }
            }
        }
        Ok(())
    }
}

type Cache = quick_cache::sync::Cache<String, (Arc<Claims>, u64)>;

/// What [`Verifier::cache_stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Verifications answered from the cache (time and revocation still checked).
    pub hits: u64,
    /// Verifications that checked the signature.
    pub misses: u64,
}

/// The verdict cache and its admission rule.
#[derive(Debug)]
struct VerdictCache {
    verdicts: Cache,
    doorkeeper: Doorkeeper,
    /// Verifications answered from the cache, and those that were not, counted only when asked
    /// for ([`Verifier::with_cache_stats`]): one relaxed atomic add a verification, on a cache
    /// line every core shares.
    counting: bool,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Admits a token's verdict to the cache only at its second verification (TinyLFU's
/// doorkeeper). Clients reuse their access token for its whole life, so the second request
/// comes soon and everything after it is a hit; a token seen once (a flood of distinct tokens,
/// a client making one call) is never stored. That saves the store and the eviction it causes
/// on every such request (about 1 µs of a 12 µs request in the benchmarks) and keeps the
/// tokens in use from being pushed out by one-time ones.
///
/// A Bloom filter of two bits a token, cleared after twice as many marks as the cache holds
/// entries: a token seen again within two cache-capacities of other tokens is admitted (the
/// cache could keep nothing used more rarely anyway: quick_cache remembers about half a
/// capacity of evicted keys beyond its entries), one seen once never is. The filter has 26
/// bits a mark, so at its fullest 8% of its bits are set and 0.6% of new tokens get in a
/// sight early. Its bits are atomics: concurrent marks and clears race harmlessly, at worst
/// admitting a token one sight early or late.
#[derive(Debug)]
struct Doorkeeper {
    hasher: quick_cache::DefaultHashBuilder,
    bits: Box<[AtomicU64]>,
    /// The filter's size in bits less one (a power of two).
    mask: usize,
    marks: AtomicUsize,
    window: usize,
}

impl Doorkeeper {
    /// The doorkeeper of a cache of `capacity` entries.
    fn new(capacity: usize) -> Self {
        let window = capacity.max(1).saturating_mul(2);
        let bits = window.saturating_mul(26).next_power_of_two().max(64);
        Self {
            hasher: quick_cache::DefaultHashBuilder::default(),
            bits: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            mask: bits - 1,
            marks: AtomicUsize::new(0),
            window,
        }
    }

    /// Whether `token` was seen since the doorkeeper last forgot; if not, marks it.
    fn admit(&self, token: &str) -> bool {
        let hash = self.hasher.hash_one(token);
        let bits = [hash as usize, (hash >> 32) as usize].map(|b| b & self.mask);
        let seen = bits
            .iter()
            .all(|&b| self.bits[b / 64].load(Ordering::Relaxed) & (1 << (b % 64)) != 0);
        if seen {
            return true;
        }
        for b in bits {
            self.bits[b / 64].fetch_or(1 << (b % 64), Ordering::Relaxed);
        }
        if self.marks.fetch_add(1, Ordering::Relaxed) + 1 >= self.window {
            self.marks.store(0, Ordering::Relaxed);
            for word in &self.bits {
                word.store(0, Ordering::Relaxed);
            }
        }
        false
    }
}

/// Verifies tokens against a key set and a policy; cheap to share behind an `Arc`.
///
/// Keys can be replaced at run time ([`Verifier::set_keys`]) without a lock on the hot path.
#[derive(Debug)]
pub struct Verifier {
    keys: Arc<ArcSwap<KeySet>>,
    /// Bumped on every key change, so cached verdicts made under old keys are ignored.
    generation: Arc<AtomicU64>,
    policy: Policy,
    /// Whether the policy's `typ` is exactly `at+jwt`, so the key set's precomputed
    /// access-token headers may be matched byte for byte. Such a header (`alg`, `typ: at+jwt`,
    /// `kid`) passes every relaxation of the policy too, which only accept more headers.
    access_typ: bool,
    revocation: Option<Arc<RevocationView>>,
    cache: Option<VerdictCache>,
    /// Set by a [`RemoteJwks`](crate::remote::RemoteJwks) that keeps these keys: an unknown
    /// `kid` met by the synchronous [`Verifier::verify`] starts a refetch in the background,
    /// so the sync entry point follows a key rotation too (the async one waits for it).
    unknown_kid: Arc<UnknownKidHook>,
}

/// What to do when a token names a `kid` the key set does not hold.
#[derive(Default)]
pub(crate) struct UnknownKidHook(std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>);

impl UnknownKidHook {
    /// Sets the hook, unless one is set already (a verifier kept by one remote JWKS).
    #[cfg_attr(
        not(feature = "remote"),
        expect(dead_code, reason = "set by the remote JWKS")
    )]
    pub(crate) fn set(&self, hook: impl Fn() + Send + Sync + 'static) {
        let _ = self.0.set(Box::new(hook));
    }

    fn call(&self) {
        if let Some(hook) = self.0.get() {
            hook();
        }
    }
}

impl std::fmt::Debug for UnknownKidHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "UnknownKidHook(set)"
        } else {
            "UnknownKidHook"
        })
    }
}

impl Verifier {
    /// A verifier for `policy` with `keys`, without revocation or cache.
    #[must_use]
    pub fn new(keys: KeySet, policy: Policy) -> Verifier {
        Verifier {
            keys: Arc::new(ArcSwap::from_pointee(keys)),
            generation: Arc::new(AtomicU64::new(0)),
            access_typ: policy.typ == ACCESS_TOKEN_TYP,
            policy,
            revocation: None,
            cache: None,
            unknown_kid: Arc::default(),
        }
    }

    /// Consults `view` after every successful verification.
    #[must_use]
    pub fn with_revocation(mut self, view: Arc<RevocationView>) -> Verifier {
        self.revocation = Some(view);
        self
    }

    /// Remembers up to `capacity` verified tokens, keyed by their exact bytes (never by the
    /// signature alone: ECDSA signatures are malleable, so one token has several valid
    /// signatures), each from its second verification on. Time and revocation are still
    /// checked on every hit.
    #[must_use]
    pub fn with_cache(mut self, capacity: usize) -> Verifier {
        self.cache = (capacity > 0).then(|| VerdictCache {
            verdicts: Cache::new(capacity),
            doorkeeper: Doorkeeper::new(capacity),
            counting: false,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        });
        self
    }

    /// Counts the cache's hits and misses from now on (see [`Verifier::cache_stats`]); call it
    /// after [`Verifier::with_cache`]. Off by default: nothing is counted unless someone reads it.
    #[must_use]
    pub fn with_cache_stats(mut self) -> Verifier {
        if let Some(cache) = &mut self.cache {
            cache.counting = true;
        }
        self
    }

    /// How often the cache answered a verification, and how often it could not (the token was
    /// not in it, or was cached under keys since replaced), since counting began. `None`
    /// without a cache or without [`Verifier::with_cache_stats`]. For metrics: this crate keeps
    /// the counts, the caller reports them.
    #[must_use]
    pub fn cache_stats(&self) -> Option<CacheStats> {
        let cache = self.cache.as_ref().filter(|cache| cache.counting)?;
        Some(CacheStats {
            hits: cache.hits.load(Ordering::Relaxed),
            misses: cache.misses.load(Ordering::Relaxed),
        })
    }

    /// A verifier with another policy sharing these keys and this revocation view (for other
    /// token kinds, such as single-use email tokens). It has no cache of its own.
    #[must_use]
    pub fn sibling(&self, policy: Policy) -> Verifier {
        Verifier {
            keys: Arc::clone(&self.keys),
            generation: Arc::clone(&self.generation),
            access_typ: policy.typ == ACCESS_TOKEN_TYP,
            policy,
            revocation: self.revocation.clone(),
            cache: None,
            unknown_kid: Arc::clone(&self.unknown_kid),
        }
    }

    /// This verifier without a revocation view: for token kinds whose validity is tracked
    /// elsewhere (single-use tokens marked used in a database), which a user-wide cut-off
    /// must not refuse.
    #[must_use]
    pub fn without_revocation(mut self) -> Verifier {
        self.revocation = None;
        self
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The revocation view, if any.
    #[must_use]
    pub fn revocation(&self) -> Option<&Arc<RevocationView>> {
        self.revocation.as_ref()
    }

    /// The hook an unknown `kid` calls (see the field).
    #[cfg_attr(
        not(feature = "remote"),
        expect(dead_code, reason = "set by the remote JWKS")
    )]
    pub(crate) fn unknown_kid_hook(&self) -> &UnknownKidHook {
        &self.unknown_kid
    }

    /// The current key set.
    #[must_use]
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// Replaces the key set (rotation, or a refreshed remote JWKS). Verdicts cached under the
    /// old keys are no longer used.
    pub fn set_keys(&self, keys: KeySet) {
        self.keys.store(Arc::new(keys));
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Verifies `token` at the current system time.
    ///
    /// # Errors
    /// Any [`Error`]; see the module documentation for the order of checks.
    pub fn verify(&self, token: &str) -> Result<Arc<Claims>, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.verify_at(token, now)
    }

    /// Verifies `token` as of `now` (seconds since the epoch).
    ///
    /// # Errors
    /// Any [`Error`]; see the module documentation for the order of checks.
    pub fn verify_at(&self, token: &str, now: i64) -> Result<Arc<Claims>, Error> {
        if token.len() > self.policy.max_token_len {
            return Err(Error::TooLarge);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let cached = self.cache.as_ref().and_then(|cache| {
            let found = cache
                .verdicts
                .get(token)
                .filter(|(_, cached_generation)| *cached_generation == generation);
            if cache.counting {
                let counter = if found.is_some() {
                    &cache.hits
                } else {
                    &cache.misses
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            found
        });
        let (claims, fresh) = match cached {
            Some((claims, _)) => (claims, false),
            None => {
                let claims = self.verify_signed(token).inspect_err(|err| {
                    if *err == Error::UnknownKey {
                        self.unknown_kid.call();
                    }
                })?;
                (Arc::new(claims), true)
            }
        };
        self.policy.check_time(&claims, now)?;
        if let Some(view) = &self.revocation {
            view.check(&claims)?;
        }
        if fresh
            && let Some(cache) = &self.cache
            && cache.doorkeeper.admit(token)
        {
            cache
                .verdicts
                .insert(token.to_owned(), (Arc::clone(&claims), generation));
        }
        Ok(claims)
    }

    /// Steps 3 to 5: the header names a key, the algorithm is that key's, the type is right.
    fn key_from_header<'k>(&self, keys: &'k KeySet, header_b64: &str) -> Result<&'k Key, Error> {
        let mut header_buf = [0u8; MAX_HEADER_BYTES];
        let header_bytes = decode_small(header_b64, &mut header_buf)?;
        let seed = HeaderSeed {
            ignore: &self.policy.ignored_header_params,
        };
        let header = crate::json::parse(header_bytes, seed)?;
        let kid = optional_header_str(header.kid, "kid", self.policy.missing_kid)?;
        let alg = header_str(header.alg, "alg")?;
        let typ = optional_header_str(header.typ, "typ", self.policy.missing_typ)?;
        let key = match kid {
            Some(kid) => keys.get(&kid).ok_or(Error::UnknownKey)?,
            // Only under `allow_missing_kid_with_single_key`: the one key, or none to choose.
            None => match keys.len() {
                0 => return Err(Error::UnknownKey),
                1 => keys.iter().next().ok_or(Error::UnknownKey)?,
                _ => return Err(Error::MissingHeader("kid")),
            },
        };
        // The header's name must be one the key's own algorithm answers to (exact, case-
        // sensitive): `Ed25519` reads as EdDSA, so it passes for an Ed25519 key and for no
        // other. The key still decides the algorithm; the name is only checked against it.
        if Algorithm::from_name(&alg) != Some(key.algorithm()) {
            return Err(Error::AlgorithmMismatch);
        }
        if typ.is_some_and(|typ| !self.policy.typ_matches(&typ)) {
            return Err(Error::WrongType);
        }
        Ok(key)
    }

    /// Steps 2 to 9: everything that depends only on the token bytes and the keys.
    fn verify_signed(&self, token: &str) -> Result<Claims, Error> {
        let (signed, signature_b64) = token.rsplit_once('.').ok_or(Error::Malformed)?;
        let (header_b64, payload_b64) = signed.split_once('.').ok_or(Error::Malformed)?;
        if header_b64.is_empty()
            || payload_b64.is_empty()
            || signature_b64.is_empty()
            || payload_b64.contains('.')
        {
            return Err(Error::Malformed);
        }

        let keys = self.keys.load();
        let key = match keys.by_access_header(header_b64) {
            Some(key) if self.access_typ => key,
            _ => self.key_from_header(&keys, header_b64)?,
        };

        // HMAC, ECDSA and EdDSA signatures (at most 96 bytes) use a small buffer, so only RSA
        // pays for zeroing the 1 KiB one.
        let mut small_signature_buf = [0u8; SMALL_SIGNATURE_BYTES];
        let mut signature_buf;
        let signature = if signature_b64.len() <= (SMALL_SIGNATURE_BYTES - 3) / 3 * 4 {
            decode_small(signature_b64, &mut small_signature_buf)?
        } else {
            signature_buf = [0u8; MAX_SIGNATURE_BYTES];
            decode_small(signature_b64, &mut signature_buf)?
        };
        if !key.verify_signature(signed.as_bytes(), signature) {
            return Err(Error::BadSignature);
        }

        // Payloads of ordinary size decode on the stack: no heap allocation per verify.
        let mut payload_buf = [0u8; STACK_PAYLOAD_BYTES];
        let payload_heap;
        // The bound leaves room for the engine's conservative length estimate.
        let payload = if payload_b64.len() <= (STACK_PAYLOAD_BYTES - 3) / 3 * 4 {
            decode_small(payload_b64, &mut payload_buf)?
        } else {
            payload_heap = b64::decode(payload_b64)?;
            &payload_heap
        };
        let claims = Claims::from_json_with(payload, self.policy.optional)?;
        if !self.policy.accepts_issuer(&claims.iss) {
            return Err(Error::WrongIssuer);
        }
        if !self.policy.accepts_audience(&claims.aud) {
            return Err(Error::WrongAudience);
        }
        // Without `iat` (only under `allow_missing_iat`) the lifetime is bounded in step 10.
        if claims
            .issued_at()
            .is_some_and(|iat| claims.exp - iat > self.policy.max_lifetime)
        {
            return Err(Error::LifetimeTooLong);
        }
        Ok(claims)
    }
}

fn header_str<'a>(
    value: Option<Loose<'a>>,
    name: &'static str,
) -> Result<std::borrow::Cow<'a, str>, Error> {
    match value {
        None => Err(Error::MissingHeader(name)),
        Some(Loose::Str(s)) => Ok(s),
        Some(_) => Err(Error::InvalidHeader(name)),
    }
}

/// A header string that may be absent if `may_be_absent`; present, it must be a string.
fn optional_header_str<'a>(
    value: Option<Loose<'a>>,
    name: &'static str,
    may_be_absent: bool,
) -> Result<Option<std::borrow::Cow<'a, str>>, Error> {
    match value {
        None if may_be_absent => Ok(None),
        value => header_str(value, name).map(Some),
    }
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    #[test]
    fn stack_decoding_refuses_every_non_canonical_form() {
        let mut buf = [0u8; 16];
        assert_eq!(decode_small("QQ", &mut buf), Ok(&b"A"[..]));
        // Same byte, non-zero trailing bits: a second spelling of one value.
        assert_eq!(decode_small("QR", &mut buf), Err(Error::Base64));
        assert_eq!(decode_small("QQ==", &mut buf), Err(Error::Base64));
        assert_eq!(decode_small("Q", &mut buf), Err(Error::Base64));
        assert_eq!(decode_small("Q+", &mut buf), Err(Error::Base64));
        assert_eq!(decode_small("Q/", &mut buf), Err(Error::Base64));
        assert_eq!(decode_small("Q Q", &mut buf), Err(Error::Base64));
        assert_eq!(decode_small("-_8", &mut buf), Ok(&[0xfb, 0xff][..]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ACCESS_TOKEN_TYP, Algorithm, Audience, Key, KeySet};

    const NOW: i64 = 1_800_000_000;

    fn token(keys: &KeySet, jti: usize) -> String {
        keys.sign(ACCESS_TOKEN_TYP, &claims(jti)).expect("signed")
    }

    fn claims(jti: usize) -> Claims {
        Claims {
            iss: "https://auth.example.com".into(),
            sub: "user-1".into(),
            aud: Audience::One("api".into()),
            exp: NOW + 900,
            iat: NOW,
            nbf: None,
            jti: format!("jti-{jti}"),
            sid: None,
            roles: vec![],
            plan: None,
            email: None,
            email_verified: None,
            client_id: None,
            extra: serde_json::Map::new(),
        }
    }

    fn verifier(capacity: usize) -> (Verifier, KeySet) {
        let key = Key::hmac("k", Algorithm::HS256, &[7u8; 32]).expect("key");
        let keys = KeySet::new(key).expect("keys");
        let policy = Policy::new("https://auth.example.com", "api");
        (
            Verifier::new(keys.clone(), policy).with_cache(capacity),
            keys,
        )
    }

    fn cached(verifier: &Verifier, token: &str) -> bool {
        let cache = verifier.cache.as_ref().expect("cache");
        cache.verdicts.get(token).is_some()
    }

    #[test]
    fn a_verdict_is_kept_from_the_second_verification_on() {
        let (verifier, keys) = verifier(100);
        let token = token(&keys, 1);
        verifier.verify_at(&token, NOW).expect("valid");
        assert!(!cached(&verifier, &token), "kept at first sight");
        verifier.verify_at(&token, NOW).expect("valid");
        assert!(cached(&verifier, &token), "not kept at second sight");
    }

    #[test]
    fn the_cache_counts_its_hits_and_misses_when_asked_and_a_key_change_makes_misses() {
        let (verifier, keys) = verifier(100);
        assert_eq!(verifier.cache_stats(), None, "counted unasked");
        let verifier = verifier.with_cache_stats();
        let token = token(&keys, 1);
        for _ in 0..3 {
            verifier.verify_at(&token, NOW).expect("valid");
        }
        let stats = verifier.cache_stats().expect("a cache");
        assert_eq!((stats.hits, stats.misses), (1, 2));
        verifier.set_keys(keys);
        verifier.verify_at(&token, NOW).expect("valid");
        assert_eq!(verifier.cache_stats().expect("a cache").misses, 3);
        let uncached = Verifier::new(KeySet::empty(), Policy::new("https://a.example", "api"));
        assert_eq!(uncached.cache_stats(), None);
    }

    #[test]
    fn tokens_used_once_never_displace_a_token_in_use() {
        let (verifier, keys) = verifier(100);
        let in_use = token(&keys, 0);
        verifier.verify_at(&in_use, NOW).expect("valid");
        verifier.verify_at(&in_use, NOW).expect("valid");
        for jti in 1..=1000 {
            verifier.verify_at(&token(&keys, jti), NOW).expect("valid");
        }
        assert!(cached(&verifier, &in_use));
        let stored = verifier.cache.as_ref().expect("cache").verdicts.len();
        // Only false positives of the doorkeeper got in (under 1% at its fullest).
        assert!(stored < 30, "{stored} one-time tokens stored");
    }

    /// A token under `key` whose header says `alg`, signed with the key's real private material,
    /// so the `alg` check is all that stands between it and acceptance.
    fn token_with_alg(key: &Key, alg: &str) -> String {
        let header = format!(
            r#"{{"alg":"{alg}","typ":"{ACCESS_TOKEN_TYP}","kid":"{}"}}"#,
            key.kid()
        );
        let payload = serde_json::to_vec(&claims(1)).expect("claims");
        let input = format!(
            "{}.{}",
            b64::encode(header.as_bytes()),
            b64::encode(&payload)
        );
        let signature = key.sign_bytes(input.as_bytes()).expect("signed");
        format!("{input}.{}", b64::encode(&signature))
    }

    fn rfc9864_verifier(key: Key) -> Verifier {
        let keys = KeySet::new(key).expect("keys");
        Verifier::new(keys, Policy::new("https://auth.example.com", "api"))
    }

    #[test]
    fn rfc9864_ed25519_header_verifies_under_an_eddsa_key() {
        let key = Key::generate(Algorithm::EdDSA).expect("key");
        let ed25519 = token_with_alg(&key, "Ed25519");
        let eddsa = token_with_alg(&key, "EdDSA");
        let verifier = rfc9864_verifier(key);
        // Not one of the key's own headers, so this is the full path's check, not the fast one.
        let header = ed25519.split('.').next().expect("header");
        assert!(verifier.keys().by_access_header(header).is_none());

        let claims = verifier.verify_at(&ed25519, NOW).expect("Ed25519 accepted");

        assert_eq!(*claims, *verifier.verify_at(&eddsa, NOW).expect("EdDSA"));
    }

    #[test]
    fn rfc9864_ed25519_header_with_a_bad_signature_is_refused_as_any_eddsa_token() {
        let key = Key::generate(Algorithm::EdDSA).expect("key");
        let mut token = token_with_alg(&key, "Ed25519");
        let last = token.pop().expect("signature");
        token.push(if last == 'A' { 'Q' } else { 'A' });
        let verifier = rfc9864_verifier(key);

        assert_eq!(verifier.verify_at(&token, NOW), Err(Error::BadSignature));
    }

    #[test]
    fn rfc9864_ed25519_header_is_refused_under_an_hs256_key() {
        let key = Key::hmac("hs-1", Algorithm::HS256, &[7u8; 32]).expect("key");
        let token = token_with_alg(&key, "Ed25519");
        let verifier = rfc9864_verifier(key);

        assert_eq!(
            verifier.verify_at(&token, NOW),
            Err(Error::AlgorithmMismatch)
        );
    }

    #[test]
    fn rfc9864_ed25519_header_is_refused_under_ecdsa_and_rsa_keys() {
        for alg in [
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::RS256,
            Algorithm::PS256,
        ] {
            let key = Key::generate(alg).expect("key");
            let token = token_with_alg(&key, "Ed25519");
            let verifier = rfc9864_verifier(key);

            assert_eq!(
                verifier.verify_at(&token, NOW),
                Err(Error::AlgorithmMismatch),
                "{alg}"
            );
        }
    }

    #[test]
    fn for_other_issuers_is_exactly_its_named_relaxations() {
        let policy = Policy::new("https://auth.example.com", "api");
        let each = policy
            .clone()
            .allow_missing_typ()
            .allow_typ(["JWT"])
            .allow_missing_kid_with_single_key()
            .allow_missing_jti()
            .allow_missing_iat()
            .ignore_header_params(["x5t", "x5t#S256"]);
        assert_eq!(policy.clone().for_other_issuers(), each);
        assert_ne!(policy.clone().for_other_issuers(), policy);
        // Applying it twice changes nothing.
        assert_eq!(each.clone().for_other_issuers(), each);
    }

    #[test]
    fn allowed_types_are_compared_like_the_policy_s_own() {
        let policy = Policy::new("https://auth.example.com", "api").allow_typ(["JWT"]);
        for typ in [
            "JWT",
            "jwt",
            "application/JWT",
            "APPLICATION/jwt",
            "at+jwt",
            "AT+JWT",
        ] {
            assert!(policy.typ_matches(typ), "{typ}");
        }
        for typ in [
            "JWT2",
            "",
            "application/application/JWT",
            "refresh+jwt",
            "id+jwt",
        ] {
            assert!(!policy.typ_matches(typ), "{typ}");
        }
        let strict = Policy::new("https://auth.example.com", "api");
        assert!(!strict.typ_matches("JWT"));
    }

    #[test]
    fn header_params_that_must_never_be_ignored_are_dropped_from_the_list() {
        let policy = Policy::new("https://auth.example.com", "api")
            .ignore_header_params(NEVER_IGNORED)
            .ignore_header_params(["x5t", "nonce", "x5t"]);
        assert_eq!(policy.ignored_header_params(), ["x5t", "nonce"]);
    }

    #[test]
    fn a_token_without_iat_has_at_most_the_maximum_lifetime_left() {
        let mut claims = claims(1);
        claims.iat = Claims::NO_IAT;
        let policy = Policy::new("https://auth.example.com", "api").with_max_lifetime(600);
        // exp is NOW + 900: 900 s left is more than 600 + 30.
        assert_eq!(policy.check_time(&claims, NOW), Err(Error::LifetimeTooLong));
        assert_eq!(policy.check_time(&claims, NOW + 270), Ok(()));
        assert_eq!(
            policy.check_time(&claims, NOW + 269),
            Err(Error::LifetimeTooLong)
        );
        // Never issued in the future: it says nothing about when it was issued.
        assert_eq!(
            policy.check_time(&claims, i64::MIN),
            Err(Error::LifetimeTooLong)
        );
    }

    #[test]
    fn own_tokens_take_the_precomputed_header_path_under_every_relaxation() {
        let key = Key::generate(Algorithm::ES256).expect("key");
        let keys = KeySet::new(key).expect("keys");
        let token = token(&keys, 1);
        let header = token.split('.').next().expect("header");
        assert!(keys.by_access_header(header).is_some());
        let relaxed = Policy::new("https://auth.example.com", "api").for_other_issuers();
        let verifier = Verifier::new(keys, relaxed);
        assert!(verifier.access_typ);
        assert!(verifier.verify_at(&token, NOW).is_ok());
    }

    #[test]
    fn rfc9864_ed448_header_is_refused_under_an_eddsa_key() {
        let key = Key::generate(Algorithm::EdDSA).expect("key");
        let token = token_with_alg(&key, "Ed448");
        let verifier = rfc9864_verifier(key);

        assert_eq!(
            verifier.verify_at(&token, NOW),
            Err(Error::AlgorithmMismatch)
        );
    }

    #[test]
    fn rfc9864_ed25519_header_in_another_case_is_refused_under_an_eddsa_key() {
        let key = Key::generate(Algorithm::EdDSA).expect("key");
        let token = token_with_alg(&key, "ed25519");
        let verifier = rfc9864_verifier(key);

        assert_eq!(
            verifier.verify_at(&token, NOW),
            Err(Error::AlgorithmMismatch)
        );
    }
}
