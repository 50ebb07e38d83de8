//! Owns the opaque secrets the server mints: ids, refresh tokens (stored only as SHA-256), the
//! deterministic refresh successor, the stateless CSRF token and device tokens (all made with
//! the server keys of `shared::keys`). Must not import axum or sqlx.

use std::fmt;

use aws_lc_rs::{digest, rand};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use crate::shared::keys::ServerKey;

/// A refresh token as handed to a client. `Debug` is redacted so it can never reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    pub fn new(raw: String) -> Self {
        Self(raw)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// What the database stores: SHA-256 of the token (a 256-bit random value needs no salt).
    pub fn hash(&self) -> Vec<u8> {
        digest::digest(&digest::SHA256, self.0.as_bytes())
            .as_ref()
            .to_vec()
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([redacted])")
    }
}

/// A new 256-bit secret for a service to present (feed credentials, OAuth clients): `prefix`,
/// so a leaked one is recognisable to secret scanners, then 32 random bytes in base64url.
pub fn prefixed_secret(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// What the database keeps of a [`prefixed_secret`]: its SHA-256. A fast hash is enough: the
/// secret is 256 random bits, so there is no dictionary to try, and no slow hash would make
/// guessing it any harder (unlike a password).
pub fn secret_sha256(secret: &str) -> Vec<u8> {
    digest::digest(&digest::SHA256, secret.as_bytes())
        .as_ref()
        .to_vec()
}

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // aws-lc's system RNG does not fail on supported platforms; a zeroed buffer would be
    // catastrophic, so refuse to continue rather than hand it out.
    if rand::fill(&mut bytes).is_err() {
        std::process::abort();
    }
    bytes
}

/// A 128-bit random id in base64url (jti, request ids).
pub fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// A random UUID v4 string (user and session ids).
pub fn uuid_v4() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn new_refresh_token() -> RefreshToken {
    RefreshToken(URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// The successor of a refresh token is a pure function of it, so a spent token re-presented
/// inside the grace window (a second tab racing the first) gets the very same successor without
/// the server ever storing a plaintext token.
pub fn refresh_successor(key: &ServerKey, presented: &RefreshToken) -> RefreshToken {
    RefreshToken(key.tag(presented.0.as_bytes()))
}

/// Stateless CSRF token bound to the session: only someone who can read our JSON responses
/// (same origin) learns it; a cross-site form cannot.
pub fn csrf_token(key: &ServerKey, session_id: &str) -> String {
    key.tag(session_id.as_bytes())
}

pub fn csrf_matches(key: &ServerKey, session_id: &str, presented: &str) -> bool {
    key.verify(session_id.as_bytes(), presented)
}

/// How long a device token is honoured: a year. It grants nothing but a login throttle of its
/// own, and every successful sign-in hands out a fresh one.
pub const DEVICE_TOKEN_TTL: i64 = 365 * 24 * 3600;

/// A device token (OWASP's "device cookie"): proof that this client signed in to `account` (a
/// normalised address) at `now`. `dt1.<nonce>.<issued at>.<HMAC of the three>`; the nonce names
/// the device for its throttle.
pub fn device_token(key: &ServerKey, account: &str, now: i64) -> String {
    let nonce = random_id();
    let tag = key.tag(format!("dt1|{nonce}|{now}|{account}").as_bytes());
    format!("dt1.{nonce}.{now}.{tag}")
}

/// The device's nonce, when `token` is a device token this server issued for `account` within
/// [`DEVICE_TOKEN_TTL`]; `None` for anything else (another account's, forged, expired).
pub fn device_nonce(key: &ServerKey, token: &str, account: &str, now: i64) -> Option<String> {
    if token.len() > 128 {
        return None;
    }
    let mut parts = token.split('.');
    let (Some("dt1"), Some(nonce), Some(issued), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let issued: i64 = issued.parse().ok()?;
    let fresh = issued <= now + 60 && now - issued <= DEVICE_TOKEN_TTL;
    let genuine = key.verify(format!("dt1|{nonce}|{issued}|{account}").as_bytes(), tag);
    (fresh && genuine).then(|| nonce.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_is_deterministic_and_csrf_is_bound_to_the_session() {
        let key = ServerKey::from_bytes(&[7; 32]);
        let t = new_refresh_token();
        assert_eq!(refresh_successor(&key, &t), refresh_successor(&key, &t));
        assert_ne!(refresh_successor(&key, &t), t);
        assert_eq!(t.hash().len(), 32);
        let csrf = csrf_token(&key, "s1");
        assert!(csrf_matches(&key, "s1", &csrf));
        assert!(!csrf_matches(&key, "s2", &csrf));
        assert!(!csrf_matches(&key, "s1", "garbage!"));
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn a_device_token_vouches_for_one_account_for_a_year() {
        let key = ServerKey::from_bytes(&[9; 32]);
        let token = device_token(&key, "ada@example.com", 1_000);
        let nonce = device_nonce(&key, &token, "ada@example.com", 1_000).expect("valid");
        assert_eq!(token.split('.').nth(1), Some(nonce.as_str()));
        assert!(device_nonce(&key, &token, "bob@example.com", 1_000).is_none());
        assert!(
            device_nonce(
                &key,
                &token,
                "ada@example.com",
                1_000 + DEVICE_TOKEN_TTL + 1
            )
            .is_none()
        );
        let other = ServerKey::from_bytes(&[8; 32]);
        assert!(device_nonce(&other, &token, "ada@example.com", 1_000).is_none());
        let forged = token.replace(".1000.", ".1001.");
        assert!(device_nonce(&key, &forged, "ada@example.com", 1_000).is_none());
        for junk in [
            "",
            "dt1",
            "dt1.a.b.c",
            "dt2.a.1000.x",
            &format!("{token}.x"),
        ] {
            assert!(
                device_nonce(&key, junk, "ada@example.com", 1_000).is_none(),
                "{junk}"
            );
        }
    }

    #[test]
    fn uuids_look_like_uuids() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
