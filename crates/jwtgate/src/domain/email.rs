//! Owns `Email`: the one address grammar of jwtgate, shared by registration, sign-in and the
//! mailer, and the one-time normalisation of addresses stored by earlier versions. Must not
//! import axum or sqlx.
//!
//! The grammar is deliberately narrower than RFC 5321: what it accepts, every mail server
//! accepts and no one can mistake for another address.
//! - Unicode NFC, trimmed, lower-cased: `é` typed as one code point or as `e` + a combining
//!   accent is one account, not two.
//! - No control, format or invisible characters anywhere (zero-width spaces and joiners, bidi
//!   overrides, soft hyphens, variation selectors...): two addresses that look the same are
//!   the same.
//! - Local part: dot-atoms (letters, digits and ``!#$%&'*+/=?^_`{|}~-``; no leading, trailing or
//!   doubled dot; no quoted strings), at most 64 bytes.
//! - Domain: at least two dot-separated labels of letters, digits and inner hyphens, each at
//!   most 63 bytes, a top-level label that is not all digits; at most 253 bytes in all.

use std::fmt;

use unicode_normalization::UnicodeNormalization as _;

use crate::store::{Store, StoreError};

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidEmail(pub &'static str);

/// ASCII characters a dot-atom may hold besides letters and digits (RFC 5322 `atext`).
const ATEXT: &str = "!#$%&'*+/=?^_`{|}~-";

/// Characters that render as nothing (or change how their neighbours render): Unicode's
/// default-ignorable code points and the other format characters (general category Cf).
fn is_invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180E | 0x3164 | 0xFEFF
        | 0xFFA0
        | 0x0600..=0x0605 | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180B..=0x180F | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F
        | 0xFE00..=0xFE0F | 0xFFF0..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

fn local_char(c: char) -> bool {
    c.is_alphanumeric() || ATEXT.contains(c)
}

fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_alphanumeric() || c == '-')
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let email: String = raw.trim().nfc().collect::<String>().to_lowercase();
        if email.is_empty() {
            return Err(InvalidEmail("email is empty"));
        }
        if email.len() > 254 {
            return Err(InvalidEmail("email is longer than 254 characters"));
        }
        if email
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || is_invisible(c))
        {
            return Err(InvalidEmail(
                "email contains a space, a control character or an invisible character",
            ));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(InvalidEmail("email must contain @"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(InvalidEmail("the part before @ must be 1 to 64 characters"));
        }
        if !local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(local_char))
        {
            return Err(InvalidEmail(
                "the part before @ may hold letters, digits, single dots (not first or last) \
                 and !#$%&'*+/=?^_`{|}~-",
            ));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let tld_is_numeric = labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()));
        if domain.len() > 253
            || labels.len() < 2
            || !labels.iter().all(|l| valid_label(l))
            || tld_is_numeric
        {
            return Err(InvalidEmail(
                "the domain after @ must look like example.com",
            ));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key under which sign-in attempts for `raw` are counted: its normal form, also when
    /// it is not a valid address, so no spelling variant gets a counter of its own.
    pub fn throttle_key(raw: &str) -> String {
        match Email::parse(raw) {
            Ok(email) => email.0,
            Err(_) => raw.trim().nfc().collect::<String>().to_lowercase(),
        }
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What [`normalise_stored`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Normalised {
    /// Addresses rewritten to their normal form.
    pub rewritten: usize,
    /// `(user id, stored address, id of the account that already has its normal form)`: left
    /// as they are, for an operator to resolve. Never merged: they may be two people.
    pub collisions: Vec<(String, String, String)>,
    /// `(user id, stored address)` that the grammar refuses (unmailable or invisible
    /// characters): left as they are.
    pub refused: Vec<(String, String)>,
}

/// Brings addresses stored by versions before this grammar to their normal form, once per
/// database. A normal form another account already has is a collision: reported, never merged.
pub async fn normalise_stored(store: &Store, now: i64) -> Result<Option<Normalised>, StoreError> {
    const STEP: &str = "email_nfc_v1";
    if store.data_step_done(STEP).await? {
        return Ok(None);
    }
    let mut found = Normalised::default();
    for (id, stored) in store.user_emails().await? {
        let normal = match Email::parse(&stored) {
            Ok(email) => email,
            Err(_) => {
                found.refused.push((id, stored));
                continue;
            }
        };
        if normal.as_str() == stored {
            continue;
        }
        match store.rename_email(&id, normal.as_str()).await? {
            None => found.rewritten += 1,
            Some(holder) => found.collisions.push((id, stored, holder)),
        }
    }
    store.mark_data_step(STEP, now).await?;
    Ok(Some(found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails_are_trimmed_lowercased_and_nfc() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").map(|e| e.0),
            Ok("ada@example.com".to_owned())
        );
        // "é" as e + U+0301 and as U+00E9 are one address.
        let decomposed = Email::parse("jose\u{301}@example.com").expect("nfd");
        let composed = Email::parse("jos\u{e9}@example.com").expect("nfc");
        assert_eq!(decomposed, composed);
        assert!(Email::parse("ünïcødé@bücher.example").is_ok());
    }

    #[test]
    fn bad_unmailable_and_invisible_addresses_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@@example.com",
            "ada@.com",
            "a..b@example.com",
            ".ada@example.com",
            "ada.@example.com",
            "\"ada\"@example.com",
            "ada@exa_mple.com",
            "ada@-example.com",
            "ada@example.123",
            "ada(x)@example.com",
            "a\u{200b}da@example.com",
            "ada@exam\u{200d}ple.com",
            "\u{202e}ada@example.com",
            "ada\u{2066}@example.com",
            "ad\u{ad}a@example.com",
            "ada\u{fe0f}@example.com",
            "ada\u{7}@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn atom() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}|[a-zé߷ж一]{1,4}")
            .expect("regex")
    }

    fn label() -> impl Strategy<Value = String> {
        proptest::string::string_regex("[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?|bücher").expect("regex")
    }

    proptest! {
        /// What the grammar accepts, the mailer (lettre) can address: a registered account is
        /// never unmailable.
        #[test]
        fn every_accepted_address_is_one_the_mailer_takes(
            atoms in proptest::collection::vec(atom(), 1..4),
            labels in proptest::collection::vec(label(), 1..3),
            tld in "[a-z]{2,6}",
        ) {
            let raw = format!("{}@{}.{tld}", atoms.join("."), labels.join("."));
            if let Ok(email) = Email::parse(&raw) {
                let parsed = email.as_str().parse::<lettre::Address>();
                prop_assert!(parsed.is_ok(), "{raw}: {parsed:?}");
            }
        }
    }
}
