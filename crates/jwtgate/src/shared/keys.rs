//! Owns the server's key material (per node today: files in its data directory): the JWT
//! signing key (generated Ed25519 saved as PKCS#8 PEM, a configured PEM file, or HS256 from
//! `JWT_SECRET`) and the three 256-bit HMAC keys (refresh successor, CSRF, device tokens).
//! Must not import axum or sqlx.
//!
//! Files are created with mode 0600 and `create_new`, so a second process racing the first never
//! overwrites a key tokens were already signed with.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtgate_verify::{Algorithm, Key, KeySet};

use crate::config::{PemAlgorithm, Settings};
use aws_lc_rs::hmac;

/// A 256-bit server key for an HMAC purpose. `Debug` is redacted.
#[derive(Clone)]
pub struct ServerKey(hmac::Key);

impl ServerKey {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    pub(crate) fn tag(&self, message: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.0, message).as_ref())
    }

    pub(crate) fn verify(&self, message: &[u8], tag_b64: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(tag_b64)
            .is_ok_and(|tag| hmac::verify(&self.0, message, &tag).is_ok())
    }
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey([redacted])")
    }
}

/// 256 random bits: a new server key (what `jwtgate secret` prints).
pub fn random_key_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    // aws-lc's system RNG does not fail on supported platforms; a zeroed key would be
    // catastrophic, so refuse to continue rather than hand it out.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        std::process::abort();
    }
    bytes
}

/// Derives a purpose-specific key from a master secret (`JWT_SECRET`), so the signing secret,
/// the refresh key and the CSRF key are never the same bytes.
pub fn derive_key(master: &[u8], label: &str) -> ServerKey {
    let k = hmac::Key::new(hmac::HMAC_SHA256, master);
    ServerKey::from_bytes(hmac::sign(&k, label.as_bytes()).as_ref())
}

pub const SIGNING_KEY_FILE: &str = "signing-key.pem";
pub const REFRESH_KEY_FILE: &str = "refresh-hmac.key";
pub const CSRF_KEY_FILE: &str = "csrf-hmac.key";
pub const DEVICE_KEY_FILE: &str = "device-hmac.key";

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    // The source is not repeated in the message: an error chain (`{:#}`) prints it next.
    #[error("{path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("signing key")]
    Key(#[from] jwtgate_verify::KeyError),
}

#[derive(Debug)]
pub struct ServerKeys {
    pub keyset: KeySet,
    pub secrets: Secrets,
}

/// The server's HMAC keys (each node derives the same values from the same keys).
#[derive(Debug, Clone)]
pub struct Secrets {
    /// Derives a refresh token's successor.
    pub refresh: ServerKey,
    /// Derives a session's CSRF token.
    pub csrf: ServerKey,
    /// Signs device tokens (see `tokens::device_token`).
    pub device: ServerKey,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeysError + '_ {
    move |source| KeysError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `contents` to a new file readable only by the owner.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), KeysError> {
    crate::files::write_new_private(path, contents).map_err(io(path))
}

fn load_or_create_hmac_key(dir: &Path, name: &str) -> Result<ServerKey, KeysError> {
    let path = dir.join(name);
    if !path.exists() {
        let encoded = URL_SAFE_NO_PAD.encode(random_key_bytes());
        match write_private(&path, encoded.as_bytes()) {
            Ok(()) => {}
            Err(KeysError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    read_hmac_key(&path)
}

fn read_hmac_key(path: &Path) -> Result<ServerKey, KeysError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim())
        .ok()
        .filter(|b| b.len() >= 32)
        .ok_or_else(|| KeysError::Invalid {
            path: path.to_owned(),
            message: "expected at least 32 base64url bytes".into(),
        })?;
    Ok(ServerKey::from_bytes(&bytes))
}

fn load_or_create_signing_key(dir: &Path) -> Result<Key, KeysError> {
    let path = dir.join(SIGNING_KEY_FILE);
    if !path.exists() {
        let key = Key::generate(Algorithm::EdDSA)?;
        let pem = key.to_pkcs8_pem().ok_or_else(|| KeysError::Invalid {
            path: path.clone(),
            message: "generated key cannot be exported".into(),
        })?;
        match write_private(&path, pem.as_bytes()) {
            Ok(()) => {
                tracing::info!(kid = key.kid(), path = %path.display(), "generated a new Ed25519 signing key");
                return Ok(key);
            }
            Err(KeysError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    key_from_file(&path, PemAlgorithm::EdDSA)
}

/// The configured PEM signing key.
fn key_from_file(path: &Path, alg: PemAlgorithm) -> Result<Key, KeysError> {
    let pem = std::fs::read_to_string(path).map_err(io(path))?;
    let alg = match alg {
        PemAlgorithm::EdDSA => Algorithm::EdDSA,
        PemAlgorithm::ES256 => Algorithm::ES256,
        PemAlgorithm::RS256 => Algorithm::RS256,
    };
    Key::from_pem(&pem, alg, None).map_err(|e| KeysError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Checks every key [`load`] would use, without creating any: the configured key file (there,
/// of the configured type, strong enough), and keys generated earlier into the data dir.
/// `check-config` runs this, so it fails exactly when `serve` would.
pub fn check(settings: &Settings) -> Result<(), KeysError> {
    if let Some(secret) = &settings.jwt_secret {
        let master = secret.expose().as_bytes();
        Key::hmac(Key::derive_hmac_kid(master), Algorithm::HS256, master)?;
        return Ok(());
    }
    let dir = &settings.data_dir;
    match &settings.signing_key_file {
        Some(path) => {
            key_from_file(path, settings.signing_key_alg)?;
        }
        None if dir.join(SIGNING_KEY_FILE).exists() => {
            key_from_file(&dir.join(SIGNING_KEY_FILE), PemAlgorithm::EdDSA)?;
        }
        None => {}
    }
    for name in [REFRESH_KEY_FILE, CSRF_KEY_FILE, DEVICE_KEY_FILE] {
        if dir.join(name).exists() {
            read_hmac_key(&dir.join(name))?;
        }
    }
    Ok(())
}

/// Loads (or creates on first start) every key the server needs, following the settings.
pub fn load(settings: &Settings) -> Result<ServerKeys, KeysError> {
    let dir = &settings.data_dir;
    crate::files::private_dir(dir).map_err(io(dir))?;
    if let Some(secret) = &settings.jwt_secret {
        let master = secret.expose().as_bytes();
        let key = Key::hmac(Key::derive_hmac_kid(master), Algorithm::HS256, master)?;
        return Ok(ServerKeys {
            keyset: KeySet::new(key)?,
            secrets: Secrets {
                refresh: derive_key(master, "jwtgate refresh-successor v1"),
                csrf: derive_key(master, "jwtgate csrf v1"),
                device: derive_key(master, "jwtgate device v1"),
            },
        });
    }
    let signing = match &settings.signing_key_file {
        Some(path) => key_from_file(path, settings.signing_key_alg)?,
        None => load_or_create_signing_key(dir)?,
    };
    Ok(ServerKeys {
        keyset: KeySet::new(signing)?,
        secrets: Secrets {
            refresh: load_or_create_hmac_key(dir, REFRESH_KEY_FILE)?,
            csrf: load_or_create_hmac_key(dir, CSRF_KEY_FILE)?,
            device: load_or_create_hmac_key(dir, DEVICE_KEY_FILE)?,
        },
    })
}
