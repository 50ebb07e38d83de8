//! Store methods for the revocation feed's credentials (`feed_credentials`, migrations 0010 on
//! SQLite and 0006 on PostgreSQL). Only SQL; the secrets are made and hashed by the domain.
//! Must not import axum, the domain or jwtgate-verify.

use super::{Columns, Store, StoreError};

/// One feed credential, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedCredentialRow {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl Store {
    pub async fn add_feed_credential(
        &self,
        id: &str,
        name: &str,
        secret_sha256: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool, {
            sqlx::query(
                "INSERT INTO feed_credentials (id, name, secret_sha256, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(name)
            .bind(secret_sha256)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every credential, oldest first.
    pub async fn feed_credentials(&self) -> Result<Vec<FeedCredentialRow>, StoreError> {
        with_pool!(self, pool, {
            sqlx::query(
                "SELECT id, name, created_at, revoked_at FROM feed_credentials \
                 ORDER BY created_at, id",
            )
            .fetch_all(pool)
            .await?
            .iter()
            .map(|row| {
                Ok(FeedCredentialRow {
                    id: row.column("id")?,
                    name: row.column("name")?,
                    created_at: row.column("created_at")?,
                    revoked_at: row.column("revoked_at")?,
                })
            })
            .collect()
        })
    }

    /// Revokes the credential `id`; whether there was a live one.
    pub async fn revoke_feed_credential(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        with_pool!(self, pool, {
            Ok(sqlx::query(
                "UPDATE feed_credentials SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
                > 0)
        })
    }

    /// The id of the live credential whose secret hashes to `secret_sha256`.
    pub async fn feed_credential_by_hash(
        &self,
        secret_sha256: &[u8],
    ) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool, {
            Ok(sqlx::query(
                "SELECT id FROM feed_credentials WHERE secret_sha256 = $1 AND revoked_at IS NULL",
            )
            .bind(secret_sha256)
            .fetch_optional(pool)
            .await?
            .map(|row| row.column("id"))
            .transpose()?)
        })
    }
}
