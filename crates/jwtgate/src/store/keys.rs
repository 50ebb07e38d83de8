//! Store methods for the signing keys (`signing_keys`) and the server secrets
//! (`server_secrets`). Only SQL: rows go in and out sealed, as the domain sealed them; which key
//! signs, and when one is added, is decided in `domain::signing`. Must not import axum, the
//! domain or jwtgate-verify.

use super::{Columns, Store, StoreError, locks, map_unique};

/// One row of `signing_keys`, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub generation: i64,
    /// The public half as a JWK (JSON text).
    pub public_jwk: String,
    /// The private half, sealed; `None` once destroyed.
    pub private_enc: Option<Vec<u8>>,
    pub publish_at: i64,
    pub activate_at: i64,
    pub revoked_at: Option<i64>,
    pub destroyed_at: Option<i64>,
}

/// A key to add: its generation is the next one, given by the store.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub kid: String,
    pub alg: String,
    pub public_jwk: String,
    pub private_enc: Vec<u8>,
    pub publish_at: i64,
    pub activate_at: i64,
}

/// What one decision over the key rows changes, in one transaction.
#[derive(Debug, Clone, Default)]
pub struct KeyChanges {
    /// `(kid, at)`: the key is revoked at `at` (kept if it already was).
    pub revoke: Option<(String, i64)>,
    /// `(kid, at)`: the key signs from `at` (an emergency: a published key promoted early).
    pub activate: Option<(String, i64)>,
    /// Keys to add as the next generations, in this order.
    pub add: Vec<NewKey>,
    /// `(kids, at)`: private halves to destroy, recorded as destroyed at `at`.
    pub destroy: (Vec<String>, i64),
}

impl KeyChanges {
    pub fn is_empty(&self) -> bool {
        self.revoke.is_none()
            && self.activate.is_none()
            && self.add.is_empty()
            && self.destroy.0.is_empty()
    }
}

fn key_from_row(row: &impl Columns) -> Result<KeyRow, StoreError> {
    Ok(KeyRow {
        kid: row.column("kid")?,
        alg: row.column("alg")?,
        generation: row.column("generation")?,
        public_jwk: row.column("public_jwk")?,
        private_enc: row.column("private_enc")?,
        publish_at: row.column("publish_at")?,
        activate_at: row.column("activate_at")?,
        revoked_at: row.column("revoked_at")?,
        destroyed_at: row.column("destroyed_at")?,
    })
}

/// The INSERT of `$key` (a [`NewKey`]) as generation `$generation`, ready to execute.
macro_rules! insert_key {
    ($key:expr, $generation:expr) => {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, generation, public_jwk, private_enc, \
             publish_at, activate_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&$key.kid)
        .bind(&$key.alg)
        .bind($generation)
        .bind(&$key.public_jwk)
        .bind(&$key.private_enc)
        .bind($key.publish_at)
        .bind($key.activate_at)
    };
}

/// Every key row, oldest generation first, read through `$executor`.
macro_rules! select_keys {
    ($executor:expr) => {
        sqlx::query(
            "SELECT kid, alg, generation, public_jwk, private_enc, publish_at, activate_at, \
             revoked_at, destroyed_at FROM signing_keys ORDER BY generation",
        )
        .fetch_all($executor)
        .await?
        .iter()
        .map(key_from_row)
        .collect::<Result<Vec<_>, _>>()
    };
}

impl Store {
    /// Every signing key, oldest generation first.
    pub async fn signing_keys(&self) -> Result<Vec<KeyRow>, StoreError> {
        with_pool!(self, pool, { select_keys!(pool) })
    }

    /// Reads every key and applies what `decide` makes of them, as one unit: on PostgreSQL
    /// under the keys' advisory lock, on SQLite under its write lock taken before the read, so
    /// two nodes (or a node and the CLI) deciding at once decide one after the other and the
    /// second sees the first's key. The unique `generation` is the backstop should anything
    /// bypass the lock: a second "next key" fails as [`StoreError::Conflict`] and nothing of
    /// that decision is written. Returns the rows as they are afterwards.
    pub async fn change_signing_keys(
        &self,
        decide: impl FnOnce(&[KeyRow]) -> KeyChanges,
    ) -> Result<Vec<KeyRow>, StoreError> {
        with_pool!(self, pool, {
            let mut tx = pool.begin().await?;
            lock!(self, tx, locks::KEYS, "");
            if !self.is_postgres() {
                // A write first: SQLite takes its write lock now, not at the first INSERT after
                // a read another writer may have made stale.
                sqlx::query("UPDATE signing_keys SET kid = kid WHERE 0 = 1")
                    .execute(&mut *tx)
                    .await?;
            }
            let rows = select_keys!(&mut *tx)?;
            let changes = decide(&rows);
            if changes.is_empty() {
                tx.rollback().await?;
                return Ok(rows);
            }
            if let Some((kid, at)) = &changes.revoke {
                sqlx::query(
                    "UPDATE signing_keys SET revoked_at = coalesce(revoked_at, $1) WHERE kid = $2",
                )
                .bind(*at)
                .bind(kid)
                .execute(&mut *tx)
                .await?;
            }
            if let Some((kid, at)) = &changes.activate {
                sqlx::query("UPDATE signing_keys SET activate_at = $1 WHERE kid = $2")
                    .bind(*at)
                    .bind(kid)
                    .execute(&mut *tx)
                    .await?;
            }
            let (destroy, at) = &changes.destroy;
            for kid in destroy {
                sqlx::query(
                    "UPDATE signing_keys SET private_enc = NULL, destroyed_at = $1 \
                     WHERE kid = $2 AND destroyed_at IS NULL",
                )
                .bind(*at)
                .bind(kid)
                .execute(&mut *tx)
                .await?;
            }
            let mut next = rows.iter().map(|r| r.generation).max().unwrap_or(0);
            for key in &changes.add {
                next += 1;
                insert_key!(key, next)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_unique)?;
            }
            let rows = select_keys!(&mut *tx)?;
            tx.commit().await?;
            Ok(rows)
        })
    }

    /// Adds a key as generation `generation` without the lock: what a node that bypassed the
    /// lock would do. Only the test suite calls it, to show the uniqueness backstop holds.
    #[doc(hidden)]
    pub async fn test_insert_signing_key(
        &self,
        key: &NewKey,
        generation: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool, {
            insert_key!(key, generation)
                .execute(pool)
                .await
                .map_err(map_unique)?;
            Ok(())
        })
    }

    /// The sealed server secret `name`, adding `sealed` as it first if there is none: two
    /// nodes starting together both end up with whichever was added first.
    pub async fn server_secret(
        &self,
        name: &str,
        sealed: &[u8],
        now: i64,
    ) -> Result<Vec<u8>, StoreError> {
        with_pool!(self, pool, {
            sqlx::query(
                "INSERT INTO server_secrets (name, secret_enc, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(sealed)
            .bind(now)
            .execute(pool)
            .await?;
            let row = sqlx::query("SELECT secret_enc FROM server_secrets WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await?;
            Ok(row.column("secret_enc")?)
        })
    }
}
