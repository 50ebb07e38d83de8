//! Owns the audit log: `Audit::record` writes one security event (who did what to whom, from
//! where, with what outcome) and `Audit::page` reads them newest first. Must not import axum or
//! sqlx (rows go through `store`).
//!
//! Rules for callers (part B's admin actions included): `event` is a stable snake_case code
//! (`login`, `logout`, `session_revoked`, `role_changed`...), `outcome` says how it went, and
//! `detail` is a short human note. Never put a password, a token or a key in any field: events
//! carry ids, addresses and codes only.
//!
//! Recording never fails the request that triggered it: a failed write is logged (the event is
//! lost, the user's action still happens). Auth flows must stay available when the log is not.

use serde::Serialize;

use crate::clock::Clock;
use crate::store::{AuditRow, NewAuditRow, Store, StoreError};

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

/// One event to record.
///
/// ```ignore
/// state.auth.audit().record(AuditEvent {
///     actor: Some(&admin_id),
///     subject: Some(&user_id),
///     ip: Some(&ip),
///     event: "role_changed",
///     outcome: Outcome::Success,
///     detail: Some("roles: admin".into()),
/// }).await;
/// ```
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    /// Who acted (the signed-in user or administrator); `None` for anonymous requests.
    pub actor: Option<&'a str>,
    /// Whose account the event concerns; `None` when unknown (a login for an unknown address).
    pub subject: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub event: &'static str,
    pub outcome: Outcome,
    /// A short note. Never a password or a token.
    pub detail: Option<String>,
}

/// An audit event as users and administrators see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    pub ip: Option<String>,
    pub event: String,
    pub outcome: String,
    pub detail: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            at: r.at,
            actor_id: r.actor_id,
            subject_id: r.subject_id,
            ip: r.ip,
            event: r.event,
            outcome: r.outcome,
            detail: r.detail,
        }
    }
}

/// One page of events, newest first; `next_cursor` is passed back as `before`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// The largest page a caller may ask for.
pub const MAX_PAGE: i64 = 100;
pub const DEFAULT_PAGE: i64 = 50;

/// The audit log. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Audit {
    store: Store,
    clock: Clock,
}

impl Audit {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Records one event at the clock's "now". Never fails: a write error is logged.
    pub async fn record(&self, e: AuditEvent<'_>) {
        let row = NewAuditRow {
            at: self.clock.now(),
            actor_id: e.actor,
            subject_id: e.subject,
            ip: e.ip,
            event: e.event,
            outcome: e.outcome.as_str(),
            detail: e.detail.as_deref(),
        };
        if let Err(err) = self.store.insert_audit_event(&row).await {
            tracing::error!(event = e.event, error = %err, "could not record audit event");
        }
    }

    /// A page of events, newest first: only those concerning `user` (as subject or actor) when
    /// given, every event otherwise (administrators). `before` is a previous `next_cursor`.
    pub async fn page(
        &self,
        user: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<AuditPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE);
        // One extra row tells whether another page exists without a count query.
        let mut rows = self.store.audit_page(user, before, limit + 1).await?;
        let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > limit;
        rows.truncate(usize::try_from(limit).unwrap_or(0));
        let next_cursor = if more {
            rows.last().map(|r| r.id.to_string())
        } else {
            None
        };
        Ok(AuditPage {
            events: rows.into_iter().map(AuditEntry::from).collect(),
            next_cursor,
        })
    }
}
