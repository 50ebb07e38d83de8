//! Store methods for the mail ration (`mail_sends`). Only SQL; must not import axum, the
//! domain or jwtgate-verify.

use super::{Store, StoreError, locks};

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
    /// recorded) when one is full. One statement under the ration's lock: concurrent requests
    /// (on any node) cannot both take the last place.
    pub async fn admit_mail(&self, m: &MailRequest<'_>) -> Result<bool, StoreError> {
        with_pool!(self, pool, {
            let mut tx = pool.begin().await?;
            lock!(self, tx, locks::MAIL, "");
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
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(done == 1)
        })
    }

    /// Seconds until a mail like `m` would fit every limit again (0 if it fits now): the
    /// longest of the waits its full limits impose. For an hourly limit of n, the n-th newest
    /// mail it counts must leave the hour.
    pub async fn mail_wait(&self, m: &MailRequest<'_>) -> Result<i64, StoreError> {
        with_pool!(self, pool, {
            let hour_ago = m.now - 3600;
            let nth = |cap: u32| i64::from(cap.max(1)) - 1;
            let last_of_kind: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(at) FROM mail_sends WHERE recipient = $1 AND kind = $2",
            )
            .bind(m.recipient)
            .bind(m.kind)
            .fetch_one(pool)
            .await?;
            let recipient: Option<i64> = sqlx::query_scalar(
                "SELECT at FROM mail_sends WHERE recipient = $1 AND at > $2 \
             ORDER BY at DESC LIMIT 1 OFFSET $3",
            )
            .bind(m.recipient)
            .bind(hour_ago)
            .bind(nth(m.per_recipient))
            .fetch_optional(pool)
            .await?;
            let client: Option<i64> = sqlx::query_scalar(
                "SELECT at FROM mail_sends WHERE client_ip = $1 AND at > $2 \
             ORDER BY at DESC LIMIT 1 OFFSET $3",
            )
            .bind(m.client_ip)
            .bind(hour_ago)
            .bind(nth(m.per_client))
            .fetch_optional(pool)
            .await?;
            let server: Option<i64> = sqlx::query_scalar(
                "SELECT at FROM mail_sends WHERE at > $1 ORDER BY at DESC LIMIT 1 OFFSET $2",
            )
            .bind(hour_ago)
            .bind(nth(m.per_server))
            .fetch_optional(pool)
            .await?;
            let waits = [
                last_of_kind.map(|at| at + m.cooldown_secs),
                recipient.map(|at| at + 3600),
                client.map(|at| at + 3600),
                server.map(|at| at + 3600),
            ];
            Ok(waits
                .into_iter()
                .flatten()
                .map(|until| until - m.now)
                .max()
                .unwrap_or(0)
                .max(0))
        })
    }

    /// Forgets mails older than `before`: they no longer count against any limit.
    pub async fn prune_mail_sends(&self, before: i64) -> Result<u64, StoreError> {
        with_pool!(self, pool, {
            Ok(sqlx::query("DELETE FROM mail_sends WHERE at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }
}
