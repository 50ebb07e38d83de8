//! Store methods for the OAuth client registry (`oauth_clients`, migrations 0011 on SQLite and
//! 0007 on PostgreSQL). Only SQL; the rules (names, redirect URIs, grants) and the secrets are
//! the domain's. Must not import axum, the domain or jwtgate-verify.

use super::{Columns, Store, StoreError, map_unique};

/// A client to insert, already checked by the domain.
#[derive(Debug, Clone, Copy)]
pub struct NewClientRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// `public` or `confidential`.
    pub kind: &'a str,
    /// The SHA-256 of a confidential client's secret; `None` for a public client.
    pub secret_sha256: Option<&'a [u8]>,
    pub redirect_uris: &'a [String],
    pub grants: &'a [String],
    pub first_party: bool,
    pub created_at: i64,
}

/// One registered client, without its secret (the hash never leaves the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub redirect_uris: Vec<String>,
    pub grants: Vec<String>,
    pub first_party: bool,
    pub created_at: i64,
}

/// The columns `client_from_row` reads, as a literal for `concat!` (sqlx takes only `&'static
/// str` SQL); never `secret_sha256`.
macro_rules! client_columns {
    () => {
        "id, name, kind, redirect_uris, grants, first_party, created_at"
    };
}

fn strings(row: &impl Columns, name: &str) -> Result<Vec<String>, StoreError> {
    let text: String = row.column(name)?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{name}: {e}")))
}

fn client_from_row(row: &impl Columns) -> Result<ClientRow, StoreError> {
    Ok(ClientRow {
        id: row.column("id")?,
        name: row.column("name")?,
        kind: row.column("kind")?,
        redirect_uris: strings(row, "redirect_uris")?,
        grants: strings(row, "grants")?,
        first_party: row.column("first_party")?,
        created_at: row.column("created_at")?,
    })
}

fn json(list: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(list).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    pub async fn add_client(&self, client: &NewClientRow<'_>) -> Result<(), StoreError> {
        let redirect_uris = json(client.redirect_uris)?;
        let grants = json(client.grants)?;
        with_pool!(self, pool, {
            sqlx::query(
                "INSERT INTO oauth_clients \
                 (id, name, kind, secret_sha256, redirect_uris, grants, first_party, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(client.id)
            .bind(client.name)
            .bind(client.kind)
            .bind(client.secret_sha256)
            .bind(&redirect_uris)
            .bind(&grants)
            .bind(client.first_party)
            .bind(client.created_at)
            .execute(pool)
            .await
            .map_err(map_unique)?;
        });
        Ok(())
    }

    /// Every client, in the order they were made.
    pub async fn clients(&self) -> Result<Vec<ClientRow>, StoreError> {
        with_pool!(self, pool, {
            sqlx::query(concat!(
                "SELECT ",
                client_columns!(),
                " FROM oauth_clients ORDER BY seq"
            ))
            .fetch_all(pool)
            .await?
            .iter()
            .map(client_from_row)
            .collect()
        })
    }

    pub async fn client(&self, id: &str) -> Result<Option<ClientRow>, StoreError> {
        with_pool!(self, pool, {
            sqlx::query(concat!(
                "SELECT ",
                client_columns!(),
                " FROM oauth_clients WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(client_from_row)
            .transpose()
        })
    }

    /// The client `id` with its secret's SHA-256 (`None` for a public client), for client
    /// authentication alone: one read.
    pub async fn client_with_secret(
        &self,
        id: &str,
    ) -> Result<Option<(ClientRow, Option<Vec<u8>>)>, StoreError> {
        with_pool!(self, pool, {
            sqlx::query(concat!(
                "SELECT ",
                client_columns!(),
                ", secret_sha256 FROM oauth_clients WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(|row| Ok((client_from_row(row)?, row.column("secret_sha256")?)))
            .transpose()
        })
    }

    /// Removes the client `id`; whether there was one.
    pub async fn remove_client(&self, id: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool, {
            Ok(sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
                > 0)
        })
    }
}
