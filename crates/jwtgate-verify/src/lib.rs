//! Strict, fast verification of JWT access tokens issued by jwtgate, or by any RFC 9068 issuer.
//!
//! ```text
//! KeySet (kid -> Key, one algorithm each)  ──┐
//! Policy (iss, aud, typ, leeway, limits)   ──┼─> Verifier::verify(token) -> Arc<Claims> | Error
//! RevocationView (jti, sid, user cut-off)  ──┘
//! ```
//!
//! - Keys are parsed once; the algorithm always comes from the key, never from the token.
//! - [`Policy::new`] is the strict profile of jwtgate's own tokens; tokens of other issuers
//!   (node `jose`, PyJWT, Microsoft Entra) pass under named relaxations
//!   ([`Policy::for_other_issuers`]) and [`KeySet::from_jwks_assuming`].
//! - [`Verifier`]'s module documents every check in order; each has a stable
//!   [`Error::reason`] for logs while clients all get the same `invalid_token`.
//! - Feature `axum`: an extractor for verified claims and a role guard (RFC 6750 answers).
//! - Feature `remote`: a JWKS fetched from an issuer, refreshed on rotation.
//!
//! Depends on nothing of jwtgate's server: any service can use it to trust jwtgate tokens.

mod algorithm;
#[cfg(feature = "axum")]
pub mod axum;
mod b64;
mod claims;
mod error;
mod json;
mod jwk;
mod key;
#[cfg(feature = "remote")]
pub mod remote;
mod revocation;
mod verify;

pub use algorithm::Algorithm;
pub use claims::{Audience, Claims, MAX_NUMERIC_DATE};
pub use error::{Error, KeyError};
pub use jwk::{Jwk, Jwks};
pub use key::{Key, KeySet};
pub use revocation::RevocationView;
pub use verify::{
    ACCESS_TOKEN_TYP, CacheStats, DEFAULT_LEEWAY, DEFAULT_MAX_LIFETIME, DEFAULT_MAX_TOKEN_LEN,
    MAX_LEEWAY, Policy, PolicyIssuer, Verifier,
};
