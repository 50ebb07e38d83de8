//! Owns key material at rest: the master key (`master_key_file`, generated into the data
//! directory on the embedded default) and sealing under it (AES-256-GCM, the `kid` or secret
//! name as associated data), the HMAC server keys, the HS256 keys of `JWT_SECRET` and
//! `jwt_secret_previous`, and reading the key files earlier versions generated (imported into
//! the database once, by `domain::signing`). Must not import axum or sqlx.
//!
//! Files are created with mode 0600 and `create_new`, so a second process racing the first never
//! overwrites a key the first already used.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtgate_verify::{Algorithm, Key};

use crate::config::{PemAlgorithm, Settings};

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
    fill_random(&mut bytes);
    bytes
}

fn fill_random(bytes: &mut [u8]) {
    // aws-lc's system RNG does not fail on supported platforms; a zeroed key or a repeated
    // nonce would be catastrophic, so refuse to continue rather than hand one out.
    if aws_lc_rs::rand::fill(bytes).is_err() {
        std::process::abort();
    }
}

/// 32 bytes for one purpose derived from a master secret, so one secret never serves two
/// purposes with the same bytes.
pub fn derive_bytes(master: &[u8], label: &str) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, master);
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(&k, label.as_bytes()).as_ref());
    out
}

pub const MASTER_KEY_FILE: &str = "master.key";
/// Key files earlier versions generated into the data directory; read once, to import them.
pub const LEGACY_SIGNING_KEY_FILE: &str = "signing-key.pem";

/// The three HMAC server keys: their name in the database, their file before keys moved
/// there, and the label their `JWT_SECRET`-derived value had.
pub const SERVER_SECRETS: [(&str, &str, &str); 3] = [
    (
        "refresh",
        "refresh-hmac.key",
        "jwtgate refresh-successor v1",
    ),
    ("csrf", "csrf-hmac.key", "jwtgate csrf v1"),
    ("device", "device-hmac.key", "jwtgate device v1"),
];

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

/// The key everything sealed in the database is sealed under. `Debug` is redacted.
pub struct MasterKey(LessSafeKey);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

/// Opening failed: the master key is not the one the value was sealed under, or the value
/// (or its `kid`/name) was altered.
#[derive(Debug, thiserror::Error)]
#[error("cannot be opened with this master key")]
pub struct SealError;

impl MasterKey {
    /// From the text of a master key file: base64url of at least 32 bytes (`jwtgate secret`).
    fn from_text(text: &str, path: &Path) -> Result<Self, KeysError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()
            .filter(|b| b.len() >= 32)
            .ok_or_else(|| KeysError::Invalid {
                path: path.to_owned(),
                message: "a master key is at least 32 bytes in base64url; make one with \
                          `jwtgate secret`"
                    .into(),
            })?;
        // The AES key is derived, so a longer file is as good as a 32-byte one.
        let aes = derive_bytes(&bytes, "jwtgate key sealing v1");
        let key = UnboundKey::new(&AES_256_GCM, &aes).map_err(|_| KeysError::Invalid {
            path: path.to_owned(),
            message: "unusable AES key".into(),
        })?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// `plaintext` sealed with `label` (a `kid`, a secret's name) as associated data: a random
    /// 96-bit nonce, then the ciphertext and its tag. A sealed value moved to another row does
    /// not open there.
    pub fn seal(&self, label: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let mut out = plaintext.to_vec();
        if self
            .0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut out,
            )
            .is_err()
        {
            // Only a plaintext beyond AES-GCM's limit (64 GiB) fails; keys are < 4 KiB.
            std::process::abort();
        }
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&out);
        sealed
    }

    pub fn open(&self, label: &str, sealed: &[u8]) -> Result<Vec<u8>, SealError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealError);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError)?;
        let mut body = body.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(label.as_bytes()), &mut body)
            .map_err(|_| SealError)?;
        Ok(plain.to_vec())
    }
}

/// Where the master key is: the configured file, or `master.key` in the data directory.
pub fn master_key_path(settings: &Settings) -> PathBuf {
    settings
        .master_key_file
        .clone()
        .unwrap_or_else(|| settings.data_dir.join(MASTER_KEY_FILE))
}

/// The master key: the configured file (which must exist: nodes sharing a database must share
/// it, so none may make its own), or the data directory's, made there on first start.
pub fn load_master_key(settings: &Settings) -> Result<MasterKey, KeysError> {
    let path = master_key_path(settings);
    if settings.master_key_file.is_none() && !path.exists() {
        // Written whole under a name of its own, then linked into place: a process starting
        // beside this one either finds no master key or a complete one, never half of one.
        let encoded = URL_SAFE_NO_PAD.encode(random_key_bytes());
        let draft = path.with_extension(format!(
            "draft-{}",
            URL_SAFE_NO_PAD.encode(&random_key_bytes()[..6])
        ));
        crate::files::write_new_private(&draft, encoded.as_bytes()).map_err(io(&draft))?;
        let linked = std::fs::hard_link(&draft, &path);
        let _ = std::fs::remove_file(&draft);
        match linked {
            Ok(()) => tracing::info!(path = %path.display(), "generated a master key"),
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(&path)(e)),
        }
    }
    read_master_key(&path)
}

fn read_master_key(path: &Path) -> Result<MasterKey, KeysError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    MasterKey::from_text(&text, path)
}

/// The HS256 key of a secret, with a `kid` derived from it that does not reveal it.
pub fn hs256_key(secret: &str) -> Result<Key, KeysError> {
    Ok(Key::shared_secret(secret.as_bytes())?)
}

/// `JWT_SECRET`'s key and `jwt_secret_previous`'s (verification only).
pub fn hs256_keys(settings: &Settings) -> Result<(Option<Key>, Vec<Key>), KeysError> {
    let current = settings
        .jwt_secret
        .as_ref()
        .map(|s| hs256_key(s.expose()))
        .transpose()?;
    let previous = settings
        .jwt_secret_previous
        .iter()
        .map(|s| hs256_key(s.expose()))
        .collect::<Result<_, _>>()?;
    Ok((current, previous))
}

/// The algorithm of a signing key given as a PEM file.
pub fn pem_algorithm(alg: PemAlgorithm) -> Algorithm {
    match alg {
        PemAlgorithm::EdDSA => Algorithm::EdDSA,
        PemAlgorithm::ES256 => Algorithm::ES256,
        PemAlgorithm::RS256 => Algorithm::RS256,
    }
}

/// A PKCS#8 PEM signing key file.
pub fn key_from_file(path: &Path, alg: Algorithm) -> Result<Key, KeysError> {
    let pem = std::fs::read_to_string(path).map_err(io(path))?;
    Key::from_pem(&pem, alg, None).map_err(|e| KeysError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// A signing key found in files, to import: the configured `signing_key_file`, or the Ed25519
/// key an earlier version generated into the data directory.
#[derive(Debug)]
pub struct FileKey {
    pub key: Key,
    pub path: PathBuf,
    /// The data directory's generated key (removed once imported), not an operator's file.
    pub generated: bool,
}

pub fn file_signing_key(settings: &Settings) -> Result<Option<FileKey>, KeysError> {
    if let Some(path) = &settings.signing_key_file {
        let key = key_from_file(path, pem_algorithm(settings.signing_key_alg))?;
        return Ok(Some(FileKey {
            key,
            path: path.clone(),
            generated: false,
        }));
    }
    let path = settings.data_dir.join(LEGACY_SIGNING_KEY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(FileKey {
        key: key_from_file(&path, Algorithm::EdDSA)?,
        path,
        generated: true,
    }))
}

/// Removes a key file an earlier version generated, once its key is sealed in the database: a
/// plain copy beside it would undo the sealing. A failure is logged, not fatal.
pub fn remove_imported(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "removed a key file: its key is sealed in the database")
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove an imported key file")
        }
    }
}

/// An HMAC key file an earlier version generated, if there is one.
pub fn legacy_hmac_key(dir: &Path, file: &str) -> Result<Option<Vec<u8>>, KeysError> {
    let path = dir.join(file);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    URL_SAFE_NO_PAD
        .decode(text.trim())
        .ok()
        .filter(|b| b.len() >= 32)
        .map(Some)
        .ok_or_else(|| KeysError::Invalid {
            path,
            message: "expected at least 32 base64url bytes".into(),
        })
}

/// Checks every key file `serve` would read, creating none: the master key (the configured
/// file must exist), the signing key file, the secrets, and files generated earlier that are
/// still to import. `check-config` runs this, so it fails exactly when `serve` would.
pub fn check(settings: &Settings) -> Result<(), KeysError> {
    let master = master_key_path(settings);
    if settings.master_key_file.is_some() || master.exists() {
        read_master_key(&master)?;
    }
    hs256_keys(settings)?;
    file_signing_key(settings)?;
    for (_, file, _) in SERVER_SECRETS {
        legacy_hmac_key(&settings.data_dir, file)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey::from_text(
            &URL_SAFE_NO_PAD.encode(random_key_bytes()),
            Path::new("test"),
        )
        .expect("master key")
    }

    #[test]
    fn a_sealed_value_opens_under_its_own_label_only() {
        let m = master();
        let sealed = m.seal("kid-1", b"private half");
        assert_eq!(m.open("kid-1", &sealed).expect("opens"), b"private half");
        assert!(m.open("kid-2", &sealed).is_err(), "moved to another row");
    }

    #[test]
    fn a_sealed_value_does_not_open_under_another_master_key() {
        let sealed = master().seal("kid-1", b"private half");
        assert!(master().open("kid-1", &sealed).is_err());
    }

    #[test]
    fn a_tampered_sealed_value_does_not_open() {
        let m = master();
        let mut sealed = m.seal("kid-1", b"private half");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(m.open("kid-1", &sealed).is_err());
        assert!(
            m.open("kid-1", &sealed[..5]).is_err(),
            "shorter than a nonce"
        );
    }

    #[test]
    fn sealing_twice_gives_two_ciphertexts() {
        let m = master();
        assert_ne!(
            m.seal("k", b"same"),
            m.seal("k", b"same"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn a_short_master_key_is_refused_naming_the_secret_command() {
        let err = MasterKey::from_text("c2hvcnQ", Path::new("m.key")).expect_err("short");
        assert!(err.to_string().contains("jwtgate secret"), "{err}");
    }
}
