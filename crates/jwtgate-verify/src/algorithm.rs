//! The JWS algorithms jwtgate accepts, and nothing else.
//!
//! Owns [`Algorithm`]. There is deliberately no `none` and no way to build one from a header:
//! the algorithm of a verification is always the one bound to the key (RFC 8725 §3.1).
//! A name is only ever a spelling of that one algorithm: `Ed25519` (RFC 9864 §2) reads as
//! [`Algorithm::EdDSA`], but jwtgate writes `EdDSA`, the name most verifiers know.

use std::fmt;

/// A JWS signature algorithm (RFC 7518 §3, RFC 8037).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA on Ed25519, and nothing else: no Ed448.
    ///
    /// Written `EdDSA` (RFC 8037); also read under its fully-specified RFC 9864 §2 name
    /// `Ed25519`, which names exactly this algorithm. RFC 9864's `Ed448` is not supported.
    EdDSA,
}

impl Algorithm {
    /// Every supported algorithm, for discovery documents.
    pub const ALL: [Algorithm; 8] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The `alg` name jwtgate writes in headers and JWKs (`EdDSA`, never `Ed25519`), and the
    /// one the fast path of verification matches byte for byte.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::PS256 => "PS256",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Looks an algorithm up by its exact, case-sensitive registered name.
    ///
    /// Besides each [`Algorithm::name`], accepts `Ed25519`, the fully-specified name RFC 9864
    /// §2 registers for EdDSA over Ed25519, as [`Algorithm::EdDSA`]. `Ed448` is `None`: that
    /// curve is not supported.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .into_iter()
            .find(|alg| alg.name() == name)
            // An alias, not a second algorithm: our EdDSA keys are Ed25519 keys only, so a
            // token or JWK saying `Ed25519` asks for exactly what `EdDSA` does here.
            .or_else(|| (name == "Ed25519").then_some(Algorithm::EdDSA))
    }

    /// Whether the algorithm uses a shared secret (and so never appears in a JWKS).
    #[must_use]
    pub fn is_symmetric(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Reads a name as [`Algorithm::from_name`] does, `Ed25519` included.
impl std::str::FromStr for Algorithm {
    type Err = crate::KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::from_name(s).ok_or(crate::KeyError::Unsupported("unsupported algorithm"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyError;

    #[test]
    fn every_written_name_reads_back_as_its_algorithm() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
            assert_eq!(alg.name().parse::<Algorithm>(), Ok(alg));
        }
    }

    #[test]
    fn rfc9864_ed25519_name_reads_as_eddsa() {
        assert_eq!(Algorithm::from_name("Ed25519"), Some(Algorithm::EdDSA));
        assert_eq!("Ed25519".parse::<Algorithm>(), Ok(Algorithm::EdDSA));
    }

    #[test]
    fn eddsa_is_still_written_eddsa_after_reading_the_rfc9864_name() {
        let alg = Algorithm::from_name("Ed25519").expect("alias");
        assert_eq!(alg.name(), "EdDSA");
        assert_eq!(alg.to_string(), "EdDSA");
    }

    #[test]
    fn rfc9864_ed448_name_is_refused() {
        assert_eq!(Algorithm::from_name("Ed448"), None);
        assert_eq!(
            "Ed448".parse::<Algorithm>(),
            Err(KeyError::Unsupported("unsupported algorithm"))
        );
    }

    #[test]
    fn rfc9864_ed25519_name_is_case_sensitive() {
        for name in ["ed25519", "ED25519", "Ed25519 ", "EDDSA"] {
            assert_eq!(Algorithm::from_name(name), None, "{name:?}");
        }
    }
}
