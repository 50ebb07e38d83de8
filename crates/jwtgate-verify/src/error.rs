//! Why a token was refused, and why a key was refused.
//!
//! Owns the two error enums. Imports nothing of the crate: every other module maps into these.

/// Why a token was rejected.
///
/// Each variant has a stable, machine-readable [`Error::reason`] for logs and metrics. Clients
/// must all be shown the same generic answer (RFC 6750 `invalid_token`): telling an attacker
/// *which* check failed only helps them forge the next attempt.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Longer than the policy's cap; refused before any decoding.
    #[error("token longer than the configured maximum")]
    TooLarge,
    /// Not three non-empty dot-separated segments.
    #[error("token is not three dot-separated segments")]
    Malformed,
    /// A segment is not canonical, unpadded base64url.
    #[error("segment is not canonical unpadded base64url")]
    Base64,
    /// Header or payload is not a UTF-8 JSON object.
    #[error("header or payload is not a UTF-8 JSON object")]
    Json,
    /// A JSON object holds the same key twice (two parsers could read two different tokens).
    #[error("duplicate JSON key")]
    DuplicateKey,
    /// The header holds a parameter other than `alg`, `typ` and `kid`.
    #[error("header parameter not allowed")]
    ForbiddenHeader,
    /// A required header parameter is absent.
    #[error("header parameter `{0}` is missing")]
    MissingHeader(&'static str),
    /// A header parameter has the wrong JSON type.
    #[error("header parameter `{0}` has the wrong type")]
    InvalidHeader(&'static str),
    /// No key with the header's `kid`.
    #[error("no key with this kid")]
    UnknownKey,
    /// The header's `alg` is not the algorithm bound to the key.
    #[error("alg does not match the key's algorithm")]
    AlgorithmMismatch,
    /// The header's `typ` is not the one this verifier accepts.
    #[error("typ is not the expected token type")]
    WrongType,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A required claim is absent.
    #[error("claim `{0}` is missing")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an out-of-range value.
    #[error("claim `{0}` has the wrong type or value")]
    InvalidClaim(&'static str),
    /// `exp` has passed (beyond the leeway).
    #[error("token has expired")]
    Expired,
    /// `nbf` is still in the future (beyond the leeway).
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// `exp - iat` exceeds the policy's maximum lifetime.
    #[error("token lifetime exceeds the maximum")]
    LifetimeTooLong,
    /// `iss` is not the configured issuer.
    #[error("issuer does not match")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("audience does not match")]
    WrongAudience,
    /// Revoked by `jti`, by session, or by a per-user cut-off.
    #[error("token has been revoked")]
    Revoked,
    /// The revocation view's lease ran out: whether the token was revoked cannot be known
    /// (a state of the verifier, not of the token; try again shortly).
    #[error("the revocation view is not known to be current")]
    RevocationStale,
}

impl Error {
    /// A stable snake_case code naming the failed check, for logs and metrics only.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Error::TooLarge => "too_large",
            Error::Malformed => "malformed",
            Error::Base64 => "invalid_base64",
            Error::Json => "invalid_json",
            Error::DuplicateKey => "duplicate_key",
            Error::ForbiddenHeader => "forbidden_header",
            Error::MissingHeader(_) => "missing_header",
            Error::InvalidHeader(_) => "invalid_header",
            Error::UnknownKey => "unknown_kid",
            Error::AlgorithmMismatch => "algorithm_mismatch",
            Error::WrongType => "wrong_typ",
            Error::BadSignature => "bad_signature",
            Error::MissingClaim(_) => "missing_claim",
            Error::InvalidClaim(_) => "invalid_claim",
            Error::Expired => "expired",
            Error::NotYetValid => "not_yet_valid",
            Error::IssuedInFuture => "issued_in_future",
            Error::LifetimeTooLong => "lifetime_too_long",
            Error::WrongIssuer => "wrong_issuer",
            Error::WrongAudience => "wrong_audience",
            Error::Revoked => "revoked",
            Error::RevocationStale => "revocation_stale",
        }
    }
}

/// Why a key, a key set or a JWKS was refused, or why signing failed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// HMAC secrets must be at least as long as the hash output (RFC 7518 §3.2).
    #[error(
        "{alg} secret must be at least {min} bytes ({bits} bits) of random data; \
         make one with `jwtgate secret` (or `openssl rand -base64 32`)",
        bits = min * 8
    )]
    SecretTooShort {
        /// The algorithm the secret was meant for.
        alg: &'static str,
        /// The minimum length in bytes.
        min: usize,
    },
    /// RSA moduli must be at least 2048 bits.
    #[error("RSA keys must be at least 2048 bits")]
    RsaTooSmall,
    /// The key material could not be parsed for the requested algorithm.
    #[error("key is not a valid {0} key")]
    Invalid(&'static str),
    /// The algorithm cannot be used this way (for example an HMAC key in a JWKS).
    #[error("{0}")]
    Unsupported(&'static str),
    /// The key cannot sign (it holds only public material).
    #[error("key {0:?} holds no private material and cannot sign")]
    NotASigningKey(String),
    /// Two keys in one set share a `kid`.
    #[error("duplicate kid {0:?} in key set")]
    DuplicateKid(String),
    /// The key set has no signing key.
    #[error("key set has no signing key")]
    NoSigningKey,
    /// The claims could not be serialised, or the signer failed.
    #[error("could not sign: {0}")]
    Signing(&'static str),
}
