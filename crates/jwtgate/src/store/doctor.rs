//! Store methods for `jwtgate doctor`: what the database says about a deployment's health
//! (migrations applied, stored addresses, the database's clock). Read only. Only SQL; must not
//! import axum, the domain or jwtgate-verify.

use super::{Columns, Pool, Store, StoreError};

impl Store {
    /// The embedded migrations not applied (successfully) to this database, as
    /// `version description`; empty when it is up to date.
    pub async fn pending_migrations(&self) -> Result<Vec<String>, StoreError> {
        let (migrator, applied): (sqlx::migrate::Migrator, Vec<i64>) = match &self.pool {
            Pool::Sqlite(pool) => {
                let table: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM sqlite_master WHERE name = '_sqlx_migrations'",
                )
                .fetch_one(pool)
                .await?;
                let applied = if table == 0 {
                    Vec::new()
                } else {
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(pool)
                        .await?
                };
                (sqlx::migrate!("./migrations/sqlite"), applied)
            }
            Pool::Postgres(pool) => {
                let table: bool =
                    sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                        .fetch_one(pool)
                        .await?;
                let applied = if table {
                    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                        .fetch_all(pool)
                        .await?
                } else {
                    Vec::new()
                };
                (sqlx::migrate!("./migrations/postgres"), applied)
            }
        };
        Ok(migrator
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| format!("{} {}", m.version, m.description))
            .collect())
    }

    /// Every stored sign-in address (deleted accounts keep none).
    pub async fn stored_addresses(&self) -> Result<Vec<String>, StoreError> {
        with_pool!(self, pool, {
            sqlx::query("SELECT email FROM users WHERE deleted_at IS NULL")
                .fetch_all(pool)
                .await?
                .iter()
                .map(|row| Ok(row.column("email")?))
                .collect()
        })
    }

    /// The database server's clock (unix seconds), where it has one of its own (PostgreSQL).
    pub async fn database_clock(&self) -> Result<Option<f64>, StoreError> {
        match &self.pool {
            Pool::Postgres(pool) => Ok(Some(
                sqlx::query_scalar("SELECT extract(epoch FROM clock_timestamp())::float8")
                    .fetch_one(pool)
                    .await?,
            )),
            Pool::Sqlite(_) => Ok(None),
        }
    }
}
