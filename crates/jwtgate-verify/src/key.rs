//! Keys and key sets: each key has one `kid` and exactly one algorithm, and is parsed once.
//!
//! Owns [`Key`] and [`KeySet`], signing, and conversion to and from JWK. Verification policy
//! lives in `verify.rs`; this module only answers "does this signature verify under this key".

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair,
    RsaPublicKeyComponents,
};
use aws_lc_rs::{digest, hmac};
use serde::Serialize;

use crate::jwk::{Jwk, Jwks};
use crate::{Algorithm, KeyError, b64};

/// A signing or verification key with its `kid` and its one algorithm.
///
/// Private material never leaves through `Debug`, JWK export or errors.
pub struct Key {
    kid: String,
    alg: Algorithm,
    material: Material,
}

enum Material {
    // Boxed: an HMAC key holds precomputed inner and outer states (over 1 KiB).
    Hmac(Box<hmac::Key>),
    Ed25519 {
        pair: Option<Ed25519KeyPair>,
        public: ParsedPublicKey,
        raw: Vec<u8>,
    },
    Ecdsa {
        pair: Option<EcdsaKeyPair>,
        public: ParsedPublicKey,
        point: Vec<u8>,
    },
    Rsa {
        pair: Option<RsaKeyPair>,
        public: ParsedPublicKey,
        n: Vec<u8>,
        e: Vec<u8>,
    },
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("can_sign", &self.can_sign())
            .finish_non_exhaustive()
    }
}

fn hmac_params(alg: Algorithm) -> Option<(hmac::Algorithm, usize)> {
    match alg {
        Algorithm::HS256 => Some((hmac::HMAC_SHA256, 32)),
        Algorithm::HS384 => Some((hmac::HMAC_SHA384, 48)),
        Algorithm::HS512 => Some((hmac::HMAC_SHA512, 64)),
        _ => None,
    }
}

fn ecdsa_params(
    alg: Algorithm,
) -> Option<(
    &'static signature::EcdsaSigningAlgorithm,
    &'static signature::EcdsaVerificationAlgorithm,
    &'static str,
    usize,
)> {
    // FIXED (r || s) encodings only: JWS never uses DER signatures (RFC 7518 §3.4).
    match alg {
        Algorithm::ES256 => Some((
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &signature::ECDSA_P256_SHA256_FIXED,
            "P-256",
            32,
        )),
        Algorithm::ES384 => Some((
            &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            &signature::ECDSA_P384_SHA384_FIXED,
            "P-384",
            48,
        )),
        _ => None,
    }
}

fn rsa_params(
    alg: Algorithm,
) -> Option<(
    &'static dyn signature::RsaEncoding,
    &'static signature::RsaParameters,
)> {
    match alg {
        Algorithm::RS256 => Some((
            &signature::RSA_PKCS1_SHA256,
            &signature::RSA_PKCS1_2048_8192_SHA256,
        )),
        Algorithm::PS256 => Some((
            &signature::RSA_PSS_SHA256,
            &signature::RSA_PSS_2048_8192_SHA256,
        )),
        _ => None,
    }
}

impl Key {
    /// An HMAC key. The secret must be at least as long as the hash output: 32 bytes for
    /// HS256, 48 for HS384, 64 for HS512 (RFC 7518 §3.2, RFC 8725 §3.5).
    ///
    /// # Errors
    /// [`KeyError::SecretTooShort`] (whose message says how to make a good secret),
    /// [`KeyError::Unsupported`] for a non-HMAC algorithm, [`KeyError::Invalid`] for an empty
    /// `kid`.
    pub fn hmac(kid: impl Into<String>, alg: Algorithm, secret: &[u8]) -> Result<Key, KeyError> {
        let (algorithm, min) = hmac_params(alg).ok_or(KeyError::Unsupported(
            "Key::hmac takes HS256, HS384 or HS512",
        ))?;
        if secret.len() < min {
            return Err(KeyError::SecretTooShort {
                alg: alg.name(),
                min,
            });
        }
        let kid = kid.into();
        // As for every other key (`with_material`): an empty kid would be found by a token
        // whose header says `"kid":""`, which is never a deliberate choice of key.
        if kid.is_empty() {
            return Err(KeyError::Invalid("kid (empty)"));
        }
        Ok(Key {
            kid,
            alg,
            material: Material::Hmac(Box::new(hmac::Key::new(algorithm, secret))),
        })
    }

    /// The HS256 key of a secret shared with jwtgate (its `JWT_SECRET`, or one of
    /// `jwt_secret_previous`), with the `kid` jwtgate gives it ([`Key::derive_hmac_kid`]): what
    /// a service that verifies jwtgate's HS256 tokens needs, instead of `unknown_kid`.
    ///
    /// # Errors
    /// [`KeyError::SecretTooShort`] below 32 bytes (jwtgate refuses such a secret too).
    pub fn shared_secret(secret: &[u8]) -> Result<Key, KeyError> {
        Key::hmac(Key::derive_hmac_kid(secret), Algorithm::HS256, secret)
    }

    /// A stable `kid` for an HMAC secret: a truncated SHA-256 of a label and the secret.
    ///
    /// Safe to publish because the secret has at least 256 bits of entropy; lets two nodes
    /// configured with the same secret agree on the `kid` without configuring one.
    #[must_use]
    pub fn derive_hmac_kid(secret: &[u8]) -> String {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"jwtgate-verify hmac kid\0");
        ctx.update(secret);
        let digest = ctx.finish();
        format!("hs-{}", &b64::encode(digest.as_ref())[..16])
    }

    /// Generates a new asymmetric key; its `kid` is the RFC 7638 thumbprint.
    ///
    /// # Errors
    /// [`KeyError::Unsupported`] for HMAC algorithms (use [`Key::hmac`] with a generated
    /// secret), or a failure of the random source.
    pub fn generate(alg: Algorithm) -> Result<Key, KeyError> {
        let pkcs8 = match alg {
            Algorithm::EdDSA => Ed25519KeyPair::generate()
                .and_then(|pair| pair.to_pkcs8())
                .map(|doc| doc.as_ref().to_vec()),
            Algorithm::ES256 | Algorithm::ES384 => {
                let (signing, ..) = ecdsa_params(alg).ok_or(KeyError::Invalid("ECDSA"))?;
                EcdsaKeyPair::generate(signing)
                    .and_then(|pair| pair.to_pkcs8v1())
                    .map(|doc| doc.as_ref().to_vec())
            }
            Algorithm::RS256 | Algorithm::PS256 => {
                RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .and_then(|pair| pair.as_der())
                    .map(|doc| doc.as_ref().to_vec())
            }
            _ => {
                return Err(KeyError::Unsupported(
                    "generate() makes asymmetric keys; for HMAC use Key::hmac with a random secret",
                ));
            }
        }
        .map_err(|_| KeyError::Signing("key generation failed"))?;
        Key::from_pkcs8_der(&pkcs8, alg, None)
    }

    /// A private key from a PKCS#8 PEM document (`-----BEGIN PRIVATE KEY-----`).
    ///
    /// `kid` defaults to the RFC 7638 thumbprint of the public key.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] if the PEM or the key does not fit `alg`.
    pub fn from_pem(pem_text: &str, alg: Algorithm, kid: Option<String>) -> Result<Key, KeyError> {
        let doc = pem::parse(pem_text).map_err(|_| KeyError::Invalid("PEM"))?;
        if doc.tag() != "PRIVATE KEY" {
            return Err(KeyError::Invalid("PKCS#8 PEM (BEGIN PRIVATE KEY)"));
        }
        Key::from_pkcs8_der(doc.contents(), alg, kid)
    }

    /// A private key from PKCS#8 DER.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] if the key does not fit `alg`; [`KeyError::RsaTooSmall`].
    pub fn from_pkcs8_der(
        der: &[u8],
        alg: Algorithm,
        kid: Option<String>,
    ) -> Result<Key, KeyError> {
        let material = match alg {
            Algorithm::EdDSA => {
                // PKCS#8 v1 files (as written by openssl) carry no public key; accept them.
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|_| KeyError::Invalid("Ed25519"))?;
                let raw = pair.public_key().as_ref().to_vec();
                let public = ParsedPublicKey::new(&signature::ED25519, &raw)
                    .map_err(|_| KeyError::Invalid("Ed25519"))?;
                Material::Ed25519 {
                    pair: Some(pair),
                    public,
                    raw,
                }
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let (signing, verifying, ..) =
                    ecdsa_params(alg).ok_or(KeyError::Invalid("ECDSA"))?;
                let pair = EcdsaKeyPair::from_pkcs8(signing, der)
                    .map_err(|_| KeyError::Invalid(alg.name()))?;
                let point = pair.public_key().as_ref().to_vec();
                let public = ParsedPublicKey::new(verifying, &point)
                    .map_err(|_| KeyError::Invalid(alg.name()))?;
                Material::Ecdsa {
                    pair: Some(pair),
                    public,
                    point,
                }
            }
            Algorithm::RS256 | Algorithm::PS256 => {
                let (_, params) = rsa_params(alg).ok_or(KeyError::Invalid("RSA"))?;
                let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| KeyError::Invalid("RSA"))?;
                if pair.public_modulus_len() < 256 {
                    return Err(KeyError::RsaTooSmall);
                }
                let components: RsaPublicKeyComponents<Vec<u8>> = pair.public_key().into();
                let public = components
                    .to_parsed_public_key(params)
                    .map_err(|_| KeyError::Invalid("RSA"))?;
                Material::Rsa {
                    pair: Some(pair),
                    public,
                    n: components.n,
                    e: components.e,
                }
            }
            _ => {
                return Err(KeyError::Unsupported(
                    "HMAC secrets are not PKCS#8 keys; use Key::hmac",
                ));
            }
        };
        Key::with_material(kid, alg, material)
    }

    /// A verification-only key from a public JWK.
    ///
    /// The algorithm comes from `alg`, or from the curve for `OKP` and `EC` keys; an RSA JWK
    /// must name its algorithm, since RS256 and PS256 share key material (see
    /// [`Key::from_jwk_assuming`] for issuers that publish none). `alg` is read as
    /// [`Algorithm::from_name`] reads it, so an `OKP` `Ed25519` key may say `EdDSA` or its
    /// RFC 9864 §2 name `Ed25519` (on any other key type or curve, either is a mismatch).
    /// `kid` defaults to the thumbprint.
    ///
    /// # Errors
    /// [`KeyError::Unsupported`] for symmetric or unknown keys, and for RSA keys without
    /// `alg`; [`KeyError::Invalid`] for malformed ones, [`KeyError::RsaTooSmall`].
    pub fn from_jwk(jwk: &Jwk) -> Result<Key, KeyError> {
        Key::from_jwk_with(jwk, None)
    }

    /// As [`Key::from_jwk`], but an RSA JWK without `alg` is taken to be for `rsa_alg`
    /// (`RS256` or `PS256`), as node `jose`, PyJWT and Microsoft Entra publish their keys.
    ///
    /// An assumption, not something the JWK says: the key is then bound to `rsa_alg` alone,
    /// so tokens signed with it under the other RSA algorithm are refused
    /// ([`crate::Error::AlgorithmMismatch`]), never accepted. RS256 is what all three sign
    /// with by default. An RSA JWK that names its `alg` keeps it; `EC` and `OKP` keys are
    /// read as by [`Key::from_jwk`].
    ///
    /// # Errors
    /// As [`Key::from_jwk`]; [`KeyError::Unsupported`] if `rsa_alg` is not an RSA algorithm.
    pub fn from_jwk_assuming(jwk: &Jwk, rsa_alg: Algorithm) -> Result<Key, KeyError> {
        Key::from_jwk_with(jwk, Some(rsa_assumption(rsa_alg)?))
    }

    fn from_jwk_with(jwk: &Jwk, rsa_alg: Option<Algorithm>) -> Result<Key, KeyError> {
        let named = jwk.alg.as_deref().map(Algorithm::from_name);
        // A JWK without `alg` is read from its curve where the curve names one algorithm:
        // RFC 7518 §3.4 defines ES256 on P-256 only and ES384 on P-384 only (with their one
        // hash), and RFC 8037 EdDSA on Ed25519 is the only algorithm of that curve here, so
        // a token naming any other algorithm for such a key is still refused. RSA moduli fit
        // RS256 and PS256 alike, so an RSA JWK without `alg` needs an explicit assumption.
        let alg = match (jwk.kty.as_str(), jwk.crv.as_deref(), named) {
            (_, _, Some(None)) => return Err(KeyError::Unsupported("unsupported JWK alg")),
            ("OKP", Some("Ed25519"), None | Some(Some(Algorithm::EdDSA))) => Algorithm::EdDSA,
            ("EC", Some("P-256"), None | Some(Some(Algorithm::ES256))) => Algorithm::ES256,
            ("EC", Some("P-384"), None | Some(Some(Algorithm::ES384))) => Algorithm::ES384,
            ("RSA", _, Some(Some(alg @ (Algorithm::RS256 | Algorithm::PS256)))) => alg,
            ("RSA", _, None) => {
                rsa_alg.ok_or(KeyError::Unsupported("RSA JWK must name its alg"))?
            }
            ("oct", ..) => {
                return Err(KeyError::Unsupported(
                    "symmetric keys are never imported from a JWK",
                ));
            }
            _ => return Err(KeyError::Unsupported("unsupported JWK key type or curve")),
        };
        let field = |value: &Option<String>| -> Result<Vec<u8>, KeyError> {
            let text = value.as_deref().ok_or(KeyError::Invalid(alg.name()))?;
            b64::decode(text).map_err(|_| KeyError::Invalid(alg.name()))
        };
        let material = match alg {
            Algorithm::EdDSA => {
                let raw = field(&jwk.x)?;
                let public = ParsedPublicKey::new(&signature::ED25519, &raw)
                    .map_err(|_| KeyError::Invalid("Ed25519"))?;
                Material::Ed25519 {
                    pair: None,
                    public,
                    raw,
                }
            }
            Algorithm::ES256 | Algorithm::ES384 => {
                let (_, verifying, _, size) =
                    ecdsa_params(alg).ok_or(KeyError::Invalid("ECDSA"))?;
                let (x, y) = (field(&jwk.x)?, field(&jwk.y)?);
                if x.len() != size || y.len() != size {
                    return Err(KeyError::Invalid(alg.name()));
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let public = ParsedPublicKey::new(verifying, &point)
                    .map_err(|_| KeyError::Invalid(alg.name()))?;
                Material::Ecdsa {
                    pair: None,
                    public,
                    point,
                }
            }
            _ => {
                let (_, params) = rsa_params(alg).ok_or(KeyError::Invalid("RSA"))?;
                let (n, e) = (field(&jwk.n)?, field(&jwk.e)?);
                if n.first() == Some(&0) || e.first() == Some(&0) {
                    return Err(KeyError::Invalid("RSA"));
                }
                if n.len() < 256 {
                    return Err(KeyError::RsaTooSmall);
                }
                let public = RsaPublicKeyComponents { n: &n, e: &e }
                    .to_parsed_public_key(params)
                    .map_err(|_| KeyError::Invalid("RSA"))?;
                Material::Rsa {
                    pair: None,
                    public,
                    n,
                    e,
                }
            }
        };
        Key::with_material(jwk.kid.clone(), alg, material)
    }

    fn with_material(
        kid: Option<String>,
        alg: Algorithm,
        material: Material,
    ) -> Result<Key, KeyError> {
        let mut key = Key {
            kid: String::new(),
            alg,
            material,
        };
        key.kid = match kid {
            Some(kid) => kid,
            None => key
                .public_jwk()
                .and_then(|jwk| jwk.thumbprint())
                .ok_or(KeyError::Invalid(alg.name()))?,
        };
        if key.kid.is_empty() {
            return Err(KeyError::Invalid("kid (empty)"));
        }
        Ok(key)
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key signs and verifies with.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// Whether the key holds private (or symmetric) material.
    #[must_use]
    pub fn can_sign(&self) -> bool {
        match &self.material {
            Material::Hmac(_) => true,
            Material::Ed25519 { pair, .. } => pair.is_some(),
            Material::Ecdsa { pair, .. } => pair.is_some(),
            Material::Rsa { pair, .. } => pair.is_some(),
        }
    }

    /// The private key as PKCS#8 PEM, for persisting a generated key. `None` for HMAC and
    /// verification-only keys.
    #[must_use]
    pub fn to_pkcs8_pem(&self) -> Option<String> {
        let der = match &self.material {
            Material::Ed25519 { pair: Some(p), .. } => p.to_pkcs8().ok()?.as_ref().to_vec(),
            Material::Ecdsa { pair: Some(p), .. } => p.to_pkcs8v1().ok()?.as_ref().to_vec(),
            Material::Rsa { pair: Some(p), .. } => p.as_der().ok()?.as_ref().to_vec(),
            _ => return None,
        };
        Some(pem::encode(&pem::Pem::new("PRIVATE KEY", der)))
    }

    /// The public key as a JWK; `None` for HMAC keys, whose secret must never be published.
    #[must_use]
    pub fn public_jwk(&self) -> Option<Jwk> {
        let mut jwk = Jwk {
            kty: String::new(),
            kid: (!self.kid.is_empty()).then(|| self.kid.clone()),
            alg: Some(self.alg.name().to_owned()),
            use_: Some("sig".to_owned()),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match &self.material {
            Material::Hmac(_) => return None,
            Material::Ed25519 { raw, .. } => {
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(b64::encode(raw));
            }
            Material::Ecdsa { point, .. } => {
                let (_, _, crv, size) = ecdsa_params(self.alg)?;
                jwk.kty = "EC".into();
                jwk.crv = Some(crv.into());
                jwk.x = Some(b64::encode(point.get(1..=size)?));
                jwk.y = Some(b64::encode(point.get(1 + size..)?));
            }
            Material::Rsa { n, e, .. } => {
                jwk.kty = "RSA".into();
                jwk.n = Some(b64::encode(n));
                jwk.e = Some(b64::encode(e));
            }
        }
        Some(jwk)
    }

    /// Checks a raw JWS signature (RFC 7515 §5.2 steps 7 and 8) over `signing_input`
    /// (`BASE64URL(header) || '.' || BASE64URL(payload)`) with this key's one algorithm.
    ///
    /// Signature layer only: no header, typing, claim or time check. It exists so published
    /// test vectors and other JWS uses can be checked against the exact primitive the verifier
    /// uses; to accept a token, use [`crate::Verifier`]. ECDSA signatures must be in the fixed
    /// `r || s` form (RFC 7518 §3.4); Ed25519 signatures with a non-canonical `S` fail.
    #[must_use]
    pub fn verify_jws_signature(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        self.verify_signature(signing_input, signature)
    }

    /// Verifies `signature` over `message` with this key's algorithm. Constant-time for HMAC.
    pub(crate) fn verify_signature(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            Material::Ed25519 { public, .. }
            | Material::Ecdsa { public, .. }
            | Material::Rsa { public, .. } => public.verify_sig(message, signature).is_ok(),
        }
    }

    /// Signs `message`, returning the raw JWS signature bytes.
    pub(crate) fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let not_signing = || KeyError::NotASigningKey(self.kid.clone());
        match &self.material {
            Material::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
            Material::Ed25519 { pair, .. } => {
                let pair = pair.as_ref().ok_or_else(not_signing)?;
                Ok(pair.sign(message).as_ref().to_vec())
            }
            Material::Ecdsa { pair, .. } => {
                let pair = pair.as_ref().ok_or_else(not_signing)?;
                pair.sign(&SystemRandom::new(), message)
                    .map(|sig| sig.as_ref().to_vec())
                    .map_err(|_| KeyError::Signing("ECDSA signing failed"))
            }
            Material::Rsa { pair, .. } => {
                let pair = pair.as_ref().ok_or_else(not_signing)?;
                let (encoding, _) = rsa_params(self.alg).ok_or(KeyError::Invalid("RSA"))?;
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(encoding, &SystemRandom::new(), message, &mut sig)
                    .map_err(|_| KeyError::Signing("RSA signing failed"))?;
                Ok(sig)
            }
        }
    }

    /// The encoded header segment this key signs with for `typ`: `{"alg","typ","kid"}`.
    fn header_segment(&self, typ: &str) -> Result<String, KeyError> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'static str,
            typ: &'a str,
            kid: &'a str,
        }
        let header = serde_json::to_vec(&Header {
            alg: self.alg.name(),
            typ,
            kid: &self.kid,
        })
        .map_err(|_| KeyError::Signing("header serialisation failed"))?;
        Ok(b64::encode(&header))
    }

    /// Signs a compact JWS with header `{"alg","typ","kid"}` over the JSON of `claims`.
    ///
    /// # Errors
    /// [`KeyError::NotASigningKey`] for public keys; [`KeyError::Signing`].
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> Result<String, KeyError> {
        let payload = serde_json::to_vec(claims)
            .map_err(|_| KeyError::Signing("claims serialisation failed"))?;
        let mut token = self.header_segment(typ)?;
        token.push('.');
        token.push_str(&b64::encode(&payload));
        let signature = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        token.push_str(&b64::encode(&signature));
        Ok(token)
    }
}

/// `alg` if it may be assumed for RSA JWKs without one: an RSA algorithm.
pub(crate) fn rsa_assumption(alg: Algorithm) -> Result<Algorithm, KeyError> {
    match alg {
        Algorithm::RS256 | Algorithm::PS256 => Ok(alg),
        _ => Err(KeyError::Unsupported(
            "only RS256 or PS256 can be assumed for an RSA JWK without alg",
        )),
    }
}

/// One active signing key and any number of verification-only keys, looked up by `kid`.
///
/// Rotation without logging anyone out (the Kanidm and Rauthy way): publish the next key
/// as a verification key first, then make it the signing key and keep the old one for
/// verification until every token it signed has expired.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    signing: Option<Arc<Key>>,
    keys: HashMap<String, Arc<Key>>,
    /// The exact header segment each key emits for access tokens. A token whose header is
    /// byte-for-byte one of these needs no decoding or parsing to know its key: those bytes
    /// pass every header check by construction. Any other header takes the full path.
    /// Hashed with foldhash (quick_cache's hasher, already a dependency): SipHash of the
    /// ~100-byte segment was ~1.6% of an HS256 verify, and the table holds only our own keys.
    access_headers: HashMap<String, Arc<Key>, quick_cache::DefaultHashBuilder>,
}

impl KeySet {
    /// A set whose signing key is `signing` (also used for verification).
    ///
    /// # Errors
    /// [`KeyError::NotASigningKey`] if it holds only public material.
    pub fn new(signing: Key) -> Result<KeySet, KeyError> {
        if !signing.can_sign() {
            return Err(KeyError::NotASigningKey(signing.kid));
        }
        let signing = Arc::new(signing);
        let mut set = KeySet {
            signing: Some(Arc::clone(&signing)),
            ..KeySet::default()
        };
        set.insert(signing)?;
        Ok(set)
    }

    fn insert(&mut self, key: Arc<Key>) -> Result<(), KeyError> {
        if self.keys.contains_key(&key.kid) {
            return Err(KeyError::DuplicateKid(key.kid.clone()));
        }
        let header = key.header_segment(crate::ACCESS_TOKEN_TYP)?;
        self.access_headers.insert(header, Arc::clone(&key));
        self.keys.insert(key.kid.clone(), key);
        Ok(())
    }

    /// A set with no keys yet, for verifiers that never sign.
    #[must_use]
    pub fn empty() -> KeySet {
        KeySet::default()
    }

    /// A verification-only set for jwtgate's HS256 tokens: the keys of `secrets` (its
    /// `JWT_SECRET` first, then any `jwt_secret_previous`), each with the `kid` jwtgate gives it.
    ///
    /// # Errors
    /// [`KeyError::SecretTooShort`], or [`KeyError::DuplicateKid`] for a secret given twice.
    pub fn from_shared_secrets<S: AsRef<[u8]>>(secrets: &[S]) -> Result<KeySet, KeyError> {
        let mut set = KeySet::empty();
        for secret in secrets {
            set.add_verification_key(Key::shared_secret(secret.as_ref())?)?;
        }
        Ok(set)
    }

    /// Adds a key used only to verify (a retired signing key, the next key, or a peer's key).
    ///
    /// # Errors
    /// [`KeyError::DuplicateKid`] if the `kid` is taken.
    pub fn add_verification_key(&mut self, key: Key) -> Result<(), KeyError> {
        self.insert(Arc::new(key))
    }

    /// Builder form of [`KeySet::add_verification_key`].
    ///
    /// # Errors
    /// [`KeyError::DuplicateKid`].
    pub fn with_verification_key(mut self, key: Key) -> Result<KeySet, KeyError> {
        self.add_verification_key(key)?;
        Ok(self)
    }

    /// The active signing key.
    #[must_use]
    pub fn signing_key(&self) -> Option<&Key> {
        self.signing.as_deref()
    }

    /// The key with this `kid`.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&Key> {
        self.keys.get(kid).map(AsRef::as_ref)
    }

    /// This set without the key `kid` (a revoked key: its tokens then fail with
    /// `unknown_kid`).
    #[must_use]
    pub fn without(&self, kid: &str) -> KeySet {
        let mut set = self.clone();
        set.keys.remove(kid);
        set.access_headers.retain(|_, key| key.kid != kid);
        if set.signing.as_ref().is_some_and(|key| key.kid == kid) {
            set.signing = None;
        }
        set
    }

    /// The key whose own access-token header segment is exactly `segment`.
    pub(crate) fn by_access_header(&self, segment: &str) -> Option<&Key> {
        self.access_headers.get(segment).map(AsRef::as_ref)
    }

    /// Every key, signing key included.
    pub fn iter(&self) -> impl Iterator<Item = &Key> {
        self.keys.values().map(AsRef::as_ref)
    }

    /// How many keys the set holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The public keys as a JWKS (RFC 7517), sorted by `kid`. HMAC keys never appear.
    #[must_use]
    pub fn jwks(&self) -> Jwks {
        let mut keys: Vec<Jwk> = self.keys.values().filter_map(|k| k.public_jwk()).collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        Jwks { keys }
    }

    /// A verification-only set from a JWKS. Keys not meant for signatures (`use` other than
    /// `sig`) or of unsupported types are skipped, and so are RSA keys without `alg` (see
    /// [`KeySet::from_jwks_assuming`]); a supported key that is malformed is an error.
    ///
    /// # Errors
    /// As [`Key::from_jwk`], and [`KeyError::DuplicateKid`].
    pub fn from_jwks(jwks: &Jwks) -> Result<KeySet, KeyError> {
        KeySet::from_jwks_with(jwks, None)
    }

    /// As [`KeySet::from_jwks`], but RSA keys without `alg` are taken to be for `rsa_alg`
    /// (`RS256` or `PS256`) instead of skipped: for issuers that publish RSA keys without
    /// `alg` (node `jose`, PyJWT, Microsoft Entra). An assumption; see
    /// [`Key::from_jwk_assuming`].
    ///
    /// # Errors
    /// As [`KeySet::from_jwks`]; [`KeyError::Unsupported`] if `rsa_alg` is not an RSA
    /// algorithm.
    pub fn from_jwks_assuming(jwks: &Jwks, rsa_alg: Algorithm) -> Result<KeySet, KeyError> {
        KeySet::from_jwks_with(jwks, Some(rsa_assumption(rsa_alg)?))
    }

    fn from_jwks_with(jwks: &Jwks, rsa_alg: Option<Algorithm>) -> Result<KeySet, KeyError> {
        let mut set = KeySet::empty();
        for jwk in &jwks.keys {
            if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            match Key::from_jwk_with(jwk, rsa_alg) {
                Ok(key) => set.add_verification_key(key)?,
                Err(KeyError::Unsupported(_)) => continue,
                Err(err) => return Err(err),
            }
        }
        Ok(set)
    }

    /// Signs `claims` with the active signing key.
    ///
    /// # Errors
    /// [`KeyError::NoSigningKey`], or as [`Key::sign`].
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> Result<String, KeyError> {
        self.signing
            .as_ref()
            .ok_or(KeyError::NoSigningKey)?
            .sign(typ, claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The public JWK of a fresh key of `alg`, with its `alg` member replaced.
    fn public_jwk_saying(alg: Algorithm, jwk_alg: &str) -> (Key, Jwk) {
        let key = Key::generate(alg).expect("key");
        let mut jwk = key.public_jwk().expect("public JWK");
        jwk.alg = Some(jwk_alg.to_owned());
        (key, jwk)
    }

    #[test]
    fn rfc9864_ed25519_jwk_parses_as_an_eddsa_key() {
        let (private, jwk) = public_jwk_saying(Algorithm::EdDSA, "Ed25519");

        let key = Key::from_jwk(&jwk).expect("Ed25519 JWK");

        assert_eq!(key.algorithm(), Algorithm::EdDSA);
        let signature = private.sign_bytes(b"message").expect("signed");
        assert!(key.verify_signature(b"message", &signature));
        // Read under either name, written under the one most verifiers know.
        assert_eq!(key.public_jwk().expect("JWK").alg.as_deref(), Some("EdDSA"));
    }

    #[test]
    fn rfc9864_ed25519_jwks_key_is_imported_not_skipped() {
        let (_, jwk) = public_jwk_saying(Algorithm::EdDSA, "Ed25519");
        let kid = jwk.kid.clone().expect("kid");

        let set = KeySet::from_jwks(&Jwks { keys: vec![jwk] }).expect("set");

        assert_eq!(set.get(&kid).map(Key::algorithm), Some(Algorithm::EdDSA));
    }

    #[test]
    fn rfc9864_ed25519_name_is_refused_for_an_ec_key() {
        for alg in [Algorithm::ES256, Algorithm::ES384] {
            let (_, ed25519) = public_jwk_saying(alg, "Ed25519");
            let (_, eddsa) = public_jwk_saying(alg, "EdDSA");

            let err = Key::from_jwk(&ed25519).expect_err("accepted");

            assert_eq!(
                err,
                KeyError::Unsupported("unsupported JWK key type or curve"),
                "{alg}"
            );
            // Exactly as any other alg/key mismatch.
            assert_eq!(Key::from_jwk(&eddsa).expect_err("accepted"), err);
        }
    }

    #[test]
    fn rfc9864_ed25519_name_is_refused_for_an_rsa_key() {
        let (_, jwk) = public_jwk_saying(Algorithm::RS256, "Ed25519");

        assert_eq!(
            Key::from_jwk(&jwk).expect_err("accepted"),
            KeyError::Unsupported("unsupported JWK key type or curve")
        );
    }

    #[test]
    fn rfc9864_ed25519_name_is_refused_for_an_okp_key_on_another_curve() {
        for crv in ["Ed448", "X25519"] {
            let (_, mut jwk) = public_jwk_saying(Algorithm::EdDSA, "Ed25519");
            jwk.crv = Some(crv.to_owned());

            assert_eq!(
                Key::from_jwk(&jwk).expect_err("accepted"),
                KeyError::Unsupported("unsupported JWK key type or curve"),
                "{crv}"
            );
        }
    }

    fn without_alg(alg: Algorithm) -> Jwk {
        let mut jwk = Key::generate(alg)
            .expect("key")
            .public_jwk()
            .expect("public JWK");
        jwk.alg = None;
        jwk
    }

    #[test]
    fn rsa_jwk_without_alg_is_refused_unless_an_algorithm_is_assumed() {
        let jwk = without_alg(Algorithm::RS256);

        assert_eq!(
            Key::from_jwk(&jwk).expect_err("accepted"),
            KeyError::Unsupported("RSA JWK must name its alg")
        );
        for assumed in [Algorithm::RS256, Algorithm::PS256] {
            let key = Key::from_jwk_assuming(&jwk, assumed).expect("assumed");
            assert_eq!(key.algorithm(), assumed);
        }
    }

    #[test]
    fn rsa_jwk_naming_its_alg_keeps_it_under_an_assumption() {
        let (_, jwk) = public_jwk_saying(Algorithm::PS256, "PS256");

        let key = Key::from_jwk_assuming(&jwk, Algorithm::RS256).expect("key");

        assert_eq!(key.algorithm(), Algorithm::PS256);
    }

    #[test]
    fn an_rsa_assumption_leaves_ec_and_okp_keys_to_their_curve() {
        for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA] {
            let key = Key::from_jwk_assuming(&without_alg(alg), Algorithm::RS256).expect("key");
            assert_eq!(key.algorithm(), alg);
        }
    }

    #[test]
    fn only_rsa_algorithms_can_be_assumed() {
        let jwk = without_alg(Algorithm::RS256);
        for alg in [
            Algorithm::HS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ] {
            assert!(matches!(
                Key::from_jwk_assuming(&jwk, alg),
                Err(KeyError::Unsupported(_))
            ));
        }
    }

    #[test]
    fn a_jwks_of_rsa_keys_without_alg_is_empty_unless_assumed() {
        let jwks = Jwks {
            keys: vec![without_alg(Algorithm::RS256), without_alg(Algorithm::ES256)],
        };

        let skipped = KeySet::from_jwks(&jwks).expect("set");
        let assumed = KeySet::from_jwks_assuming(&jwks, Algorithm::RS256).expect("set");

        let algs = |set: &KeySet| {
            let mut algs: Vec<_> = set.iter().map(|k| k.algorithm().name()).collect();
            algs.sort_unstable();
            algs
        };
        assert_eq!(algs(&skipped), ["ES256"]);
        assert_eq!(algs(&assumed), ["ES256", "RS256"]);
    }

    #[test]
    fn rfc9864_ed448_name_is_refused_for_an_ed25519_key() {
        let (_, jwk) = public_jwk_saying(Algorithm::EdDSA, "Ed448");

        assert_eq!(
            Key::from_jwk(&jwk).expect_err("accepted"),
            KeyError::Unsupported("unsupported JWK alg")
        );
    }
}
