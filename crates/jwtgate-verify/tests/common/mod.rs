//! Shared fixtures: one key per algorithm with a readable `kid`, a claims builder, and a forger
//! that signs arbitrary header and payload text with the real private key (through aws-lc-rs
//! directly, so a malicious token can carry a perfectly valid signature).
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the fixtures"
)]

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtgate_verify::{Algorithm, Key, KeySet, Policy, Verifier};

/// "Now" for every test: 2027-01-15T08:00:00Z.
pub const NOW: i64 = 1_800_000_000;
pub const ISS: &str = "https://auth.example.com";
pub const AUD: &str = "api";
pub const HMAC_SECRET: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("canonical base64url")
}

/// A key of one algorithm, kept both as a jwtgate [`Key`] source and as raw signing material.
pub struct Fixture {
    pub alg: Algorithm,
    pub kid: &'static str,
    /// PKCS#8 PEM for asymmetric keys; empty for HMAC.
    pub pem: String,
    raw: Raw,
}

enum Raw {
    Hmac(Box<hmac::Key>),
    Ed25519(Ed25519KeyPair),
    Ecdsa {
        fixed: EcdsaKeyPair,
        der: EcdsaKeyPair,
    },
    Rsa(RsaKeyPair),
}

impl Fixture {
    pub fn new(alg: Algorithm, kid: &'static str) -> Fixture {
        if alg.is_symmetric() {
            return Fixture {
                alg,
                kid,
                pem: String::new(),
                raw: Raw::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, HMAC_SECRET))),
            };
        }
        let pem = Key::generate(alg)
            .expect("generated key")
            .to_pkcs8_pem()
            .expect("private PEM");
        Fixture::from_pem(alg, kid, pem)
    }

    /// A fixture for a private key made elsewhere (PKCS#8 PEM), such as another library's.
    pub fn from_pem(alg: Algorithm, kid: &'static str, pem: String) -> Fixture {
        let pkcs8 = pem::parse(&pem).expect("PEM").into_contents();
        let raw = match alg {
            Algorithm::EdDSA => Raw::Ed25519(Ed25519KeyPair::from_pkcs8(&pkcs8).expect("Ed25519")),
            Algorithm::ES256 => Raw::Ecdsa {
                fixed: EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &pkcs8,
                )
                .expect("P-256"),
                der: EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &pkcs8)
                    .expect("P-256"),
            },
            Algorithm::RS256 => Raw::Rsa(RsaKeyPair::from_pkcs8(&pkcs8).expect("RSA")),
            other => panic!("no fixture for {other}"),
        };
        Fixture { alg, kid, pem, raw }
    }

    /// A fresh jwtgate key (with private material) for this fixture.
    pub fn key(&self) -> Key {
        if self.alg.is_symmetric() {
            Key::hmac(self.kid, self.alg, HMAC_SECRET).expect("HMAC key")
        } else {
            Key::from_pem(&self.pem, self.alg, Some(self.kid.into())).expect("PEM key")
        }
    }

    /// The JWS signature over `input`, made with the real key.
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.raw {
            Raw::Hmac(key) => hmac::sign(key, input).as_ref().to_vec(),
            Raw::Ed25519(pair) => pair.sign(input).as_ref().to_vec(),
            Raw::Ecdsa { fixed, .. } => fixed.sign(&rng, input).expect("ECDSA").as_ref().to_vec(),
            Raw::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, input, &mut sig)
                    .expect("RSA");
                sig
            }
        }
    }

    /// An ECDSA signature in ASN.1 DER form (never valid in a JWS).
    pub fn sign_ecdsa_der(&self, input: &[u8]) -> Vec<u8> {
        match &self.raw {
            Raw::Ecdsa { der, .. } => der
                .sign(&SystemRandom::new(), input)
                .expect("ECDSA")
                .as_ref()
                .to_vec(),
            _ => panic!("not an ECDSA fixture"),
        }
    }

    /// The public key as X.509 SubjectPublicKeyInfo DER.
    pub fn public_der(&self) -> Vec<u8> {
        let der = match &self.raw {
            Raw::Hmac(_) => panic!("no public key"),
            Raw::Ed25519(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Raw::Ecdsa { fixed, .. } => fixed.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Raw::Rsa(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
        };
        der.expect("SPKI DER")
    }

    /// `header.payload.signature` over already-encoded segments, signed with the real key.
    pub fn sign_segments(&self, header: &str, payload: &str) -> String {
        let input = format!("{header}.{payload}");
        let signature = b64(self.sign(input.as_bytes()));
        format!("{input}.{signature}")
    }

    /// A compact JWS of arbitrary header and payload bytes, signed with the real key.
    pub fn forge(&self, header: impl AsRef<[u8]>, payload: impl AsRef<[u8]>) -> String {
        self.sign_segments(&b64(header), &b64(payload))
    }

    /// The standard header for this key, with `typ: at+jwt`.
    pub fn header(&self) -> String {
        format!(
            r#"{{"alg":"{}","typ":"at+jwt","kid":"{}"}}"#,
            self.alg.name(),
            self.kid
        )
    }

    /// A valid access token for this key with the given claim overrides.
    pub fn token(&self, overrides: &[(&str, Option<&str>)]) -> String {
        self.forge(self.header(), claims(overrides))
    }
}

/// The claims of a valid access token as JSON text, with members replaced (`Some(raw JSON)`),
/// removed (`None`) or appended (a name not in the base set).
pub fn claims(overrides: &[(&str, Option<&str>)]) -> String {
    let mut members: Vec<(String, String)> = [
        ("iss", format!("\"{ISS}\"")),
        ("sub", "\"user-1\"".to_owned()),
        ("aud", format!("\"{AUD}\"")),
        ("exp", (NOW + 900).to_string()),
        ("iat", NOW.to_string()),
        ("nbf", NOW.to_string()),
        ("jti", "\"jti-1\"".to_owned()),
        ("sid", "\"sid-1\"".to_owned()),
        ("roles", r#"["admin"]"#.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (name, value) in overrides {
        let existing = members.iter().position(|(k, _)| k == name);
        match (existing, value) {
            (Some(i), Some(v)) => members[i].1 = (*v).to_owned(),
            (Some(i), None) => {
                members.remove(i);
            }
            (None, Some(v)) => members.push(((*name).to_owned(), (*v).to_owned())),
            (None, None) => {}
        }
    }
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// HS256 `hs-1`, ES256 `es-1`, EdDSA `ed-1` and RS256 `rs-1`, generated once per test binary.
pub struct Fixtures {
    pub hs: Fixture,
    pub es: Fixture,
    pub ed: Fixture,
    pub rs: Fixture,
}

pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: std::sync::LazyLock<Fixtures> = std::sync::LazyLock::new(|| Fixtures {
        hs: Fixture::new(Algorithm::HS256, "hs-1"),
        es: Fixture::new(Algorithm::ES256, "es-1"),
        ed: Fixture::new(Algorithm::EdDSA, "ed-1"),
        rs: Fixture::new(Algorithm::RS256, "rs-1"),
    });
    &FIXTURES
}

impl Fixtures {
    pub fn all(&self) -> [&Fixture; 4] {
        [&self.hs, &self.es, &self.ed, &self.rs]
    }

    /// Every fixture key in one set.
    pub fn key_set(&self) -> KeySet {
        let mut set = KeySet::empty();
        for fixture in self.all() {
            set.add_verification_key(fixture.key())
                .expect("distinct kids");
        }
        set
    }
}

/// An access-token verifier (`at+jwt`, default leeway and lifetime) trusting every fixture key.
pub fn verifier() -> Verifier {
    Verifier::new(fixtures().key_set(), Policy::new(ISS, AUD))
}

/// The same, under the policy for tokens of other issuers (every relaxation on).
pub fn relaxed_verifier() -> Verifier {
    Verifier::new(
        fixtures().key_set(),
        Policy::new(ISS, AUD).for_other_issuers(),
    )
}
