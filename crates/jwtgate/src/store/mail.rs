//! Store methods for the mail ration (`mail_sends`). Only SQL; must not import axum, the
//! domain or jwtgate-verify.

use super::{Store, StoreError};

/// One mail asking to go out, and the limits it must fit in.
#[derive(Debug, Clone, Copy)]
pub struct MailRequest<'a> {
    pub now: i64,
    pub kind: &'a str,
    /// SHA-256 of the canonical recipient mailbox.
    pub recipient: &'a [u8],
    pub client_ip: &'a str,
    /// No second mail of this kind to this recipient within this many seconds.
    pub cooldown_secs: i64,
    /// Mails in the last hour at most: to this recipient, for this client, in all.
    pub per_recipient: u32,
    pub per_client: u32,
    pub per_server: u32,
}

impl Store {
    /// Records the mail and answers `true` when it fits every limit; `false` (nothing
    /// recorded) when one is full. One statement: concurrent requests cannot both take the
    /// last place.
    pub async fn admit_mail(&self, m: &MailRequest<'_>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO mail_sends (at, kind, recipient, client_ip) SELECT $1, $2, $3, $4 \
             WHERE NOT EXISTS (SELECT 1 FROM mail_sends \
                               WHERE recipient = $3 AND kind = $2 AND at > $1 - $5) \
             AND (SELECT COUNT(*) FROM mail_sends WHERE recipient = $3 AND at > $1 - 3600) < $6 \
             AND (SELECT COUNT(*) FROM mail_sends WHERE client_ip = $4 AND at > $1 - 3600) < $7 \
             AND (SELECT COUNT(*) FROM mail_sends WHERE at > $1 - 3600) < $8",
        )
        .bind(m.now)
        .bind(m.kind)
        .bind(m.recipient)
        .bind(m.client_ip)
        .bind(m.cooldown_secs)
        .bind(i64::from(m.per_recipient))
        .bind(i64::from(m.per_client))
        .bind(i64::from(m.per_server))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Forgets mails older than `before`: they no longer count against any limit.
    pub async fn prune_mail_sends(&self, before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM mail_sends WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }
}
