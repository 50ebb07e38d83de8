//! Store methods for the audit log (`audit_events`). Only SQL; must not import axum, the domain
//! or jwtgate-verify. Part B's admin actions write through the same `insert_audit_event`.

use sqlx::Row;

use super::{Store, StoreError};

/// One row of `audit_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<String>,
    pub subject_id: Option<String>,
    pub ip: Option<String>,
    pub event: String,
    pub outcome: String,
    pub detail: Option<String>,
}

/// A row to insert (no id yet).
#[derive(Debug, Clone)]
pub struct NewAuditRow<'a> {
    pub at: i64,
    pub actor_id: Option<&'a str>,
    pub subject_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub event: &'a str,
    pub outcome: &'a str,
    pub detail: Option<&'a str>,
}

impl Store {
    pub async fn insert_audit_event(&self, e: &NewAuditRow<'_>) -> Result<(), StoreError> {
        with_pool!(self, pool, {
            sqlx::query(
            "INSERT INTO audit_events (at, actor_id, subject_id, ip, event, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(e.at)
        .bind(e.actor_id)
        .bind(e.subject_id)
        .bind(e.ip)
        .bind(e.event)
        .bind(e.outcome)
        .bind(e.detail)
        .execute(pool)
        .await?;
            Ok(())
        })
    }

    /// Newest first, ids strictly below `before` (the cursor), at most `limit` rows. With
    /// `user`, only events where the user is the subject or the actor.
    pub async fn audit_page(
        &self,
        user: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        with_pool!(self, pool, {
            let rows = sqlx::query(
                "SELECT id, at, actor_id, subject_id, ip, event, outcome, detail FROM audit_events \
             WHERE ($1 IS NULL OR subject_id = $1 OR actor_id = $1) AND ($2 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3",
            )
            .bind(user)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(AuditRow {
                        id: r.try_get("id")?,
                        at: r.try_get("at")?,
                        actor_id: r.try_get("actor_id")?,
                        subject_id: r.try_get("subject_id")?,
                        ip: r.try_get("ip")?,
                        event: r.try_get("event")?,
                        outcome: r.try_get("outcome")?,
                        detail: r.try_get("detail")?,
                    })
                })
                .collect()
        })
    }
}
