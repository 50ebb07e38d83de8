//! Owns `Email`: a normalised (trimmed, lower-cased) address with a basic syntax check.
//! Must not import axum or sqlx.

use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidEmail(pub &'static str);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(InvalidEmail("email is empty"));
        }
        if email.len() > 254 {
            return Err(InvalidEmail("email is longer than 254 characters"));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(InvalidEmail("email must contain @"));
        };
        if local.is_empty() || local.len() > 64 {
            return Err(InvalidEmail("the part before @ must be 1 to 64 characters"));
        }
        if domain.is_empty()
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(InvalidEmail(
                "the domain after @ must look like example.com",
            ));
        }
        if email.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | '"' | '\\')
        }) || local.contains('@')
        {
            return Err(InvalidEmail(
                "email contains a character that is not allowed",
            ));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").map(|e| e.0),
            Ok("ada@example.com".to_owned())
        );
    }

    #[test]
    fn obviously_bad_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@@example.com",
            "ada@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
