//! Owns plans and names: the `plan` claim's default, the validated plan name, and the rule
//! every role and plan name follows. Must not import axum or sqlx. (The per-plan rate limiter,
//! per-node state, is `shared::limits`.)

pub use crate::config::DEFAULT_PLAN;

/// Whether `name` is a valid role or plan name: `^[a-z][a-z0-9_-]{0,31}$`.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    matches!(bytes.first(), Some(b'a'..=b'z'))
        && bytes.len() <= 32
        && bytes
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

/// A plan name that the configuration knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan(String);

impl Plan {
    /// `name` if it is well-formed and `known` says it is configured.
    pub fn parse(name: &str, known: impl Fn(&str) -> bool) -> Option<Plan> {
        (is_valid_name(name) && known(name)).then(|| Plan(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
