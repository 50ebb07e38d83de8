//! Store methods for the OpenID Connect provider's grants (migrations 0012 on SQLite and 0008
//! on PostgreSQL): authorization codes, remembered consents, and the app sessions they lead
//! to. Only SQL; the rules (PKCE, redirect URIs, scopes) are the domain's. Must not import
//! axum, the domain or jwtgate-verify.

use sqlx::Row;

use super::{Columns, NewSession, SessionLimits, SessionRow, Store, StoreError, locks};

/// An authorization code to store: only its hash, with what it was issued for.
#[derive(Debug, Clone, Copy)]
pub struct NewCode<'a> {
    pub code_hash: &'a [u8],
    pub client_id: &'a str,
    pub user_id: &'a str,
    /// The web session that authorised it.
    pub parent_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    /// BASE64URL(SHA-256(code_verifier)) (PKCE `S256`).
    pub code_challenge: &'a str,
    /// When the user signed in (the ID token's `auth_time`).
    pub auth_time: i64,
    pub now: i64,
    pub expires_at: i64,
}

/// A stored authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    pub client_id: String,
    pub user_id: String,
    pub parent_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    /// The session its redemption created.
    pub session_id: Option<String>,
}

/// What [`Store::redeem_code`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The code is spent and the session exists; these older sessions ended to make room.
    Created { ended: Vec<String> },
    /// The account had its sign-ins of the minute already: nothing changed.
    TooMany,
    /// The code was spent (or expired) before this call: nothing changed.
    Gone,
}

/// What a user allowed an app, with the app's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRow {
    pub client_id: String,
    pub name: String,
    pub scope: String,
    pub granted_at: i64,
}

fn code_from_row(row: &impl Columns) -> Result<CodeRow, StoreError> {
    Ok(CodeRow {
        client_id: row.column("client_id")?,
        user_id: row.column("user_id")?,
        parent_id: row.column("parent_id")?,
        redirect_uri: row.column("redirect_uri")?,
        scope: row.column("scope")?,
        nonce: row.column("nonce")?,
        code_challenge: row.column("code_challenge")?,
        auth_time: row.column("auth_time")?,
        expires_at: row.column("expires_at")?,
        used_at: row.column("used_at")?,
        session_id: row.column("session_id")?,
    })
}

fn consent_from_row(row: &impl Columns) -> Result<ConsentRow, StoreError> {
    Ok(ConsentRow {
        client_id: row.column("client_id")?,
        name: row.column("name")?,
        scope: row.column("scope")?,
        granted_at: row.column("granted_at")?,
    })
}

fn session_from_row(row: &impl Columns) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        id: row.column("id")?,
        user_id: row.column("user_id")?,
        created_at: row.column("created_at")?,
        last_used_at: row.column("last_used_at")?,
        idle_expires_at: row.column("idle_expires_at")?,
        absolute_expires_at: row.column("absolute_expires_at")?,
        ended_at: row.column("ended_at")?,
        end_reason: row.column("end_reason")?,
        client_id: row.column("client_id")?,
        scope: row.column("scope")?,
        parent_id: row.column("parent_id")?,
    })
}

fn ids(rows: &[impl Columns]) -> Result<Vec<String>, StoreError> {
    rows.iter()
        .map(|r| r.column::<String>("id").map_err(StoreError::from))
        .collect()
}

impl Store {
    pub async fn insert_code(&self, code: &NewCode<'_>) -> Result<(), StoreError> {
        with_pool!(self, pool, {
            sqlx::query(
                "INSERT INTO oauth_codes (code_hash, client_id, user_id, parent_id, redirect_uri, \
                   scope, nonce, code_challenge, auth_time, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(code.code_hash)
            .bind(code.client_id)
            .bind(code.user_id)
            .bind(code.parent_id)
            .bind(code.redirect_uri)
            .bind(code.scope)
            .bind(code.nonce)
            .bind(code.code_challenge)
            .bind(code.auth_time)
            .bind(code.now)
            .bind(code.expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The code whose hash is `code_hash`, spent or not.
    pub async fn code(&self, code_hash: &[u8]) -> Result<Option<CodeRow>, StoreError> {
        with_pool!(self, pool, {
            sqlx::query(
                "SELECT client_id, user_id, parent_id, redirect_uri, scope, nonce, code_challenge, \
                   auth_time, expires_at, used_at, session_id FROM oauth_codes WHERE code_hash = $1",
            )
            .bind(code_hash)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(code_from_row)
            .transpose()
        })
    }

    /// Spends the code and creates the session `s` it leads to, in one transaction: a crash
    /// leaves either both or neither, and of two redemptions at once exactly one spends it (the
    /// conditional UPDATE), the other finding it [`Redeemed::Gone`] and the session named.
    pub async fn redeem_code(
        &self,
        code_hash: &[u8],
        s: &NewSession<'_>,
        limits: &SessionLimits<'_>,
    ) -> Result<Redeemed, StoreError> {
        with_pool!(self, pool, {
            let mut tx = pool.begin().await?;
            let spent = sqlx::query(
                "UPDATE oauth_codes SET used_at = $1, session_id = $2 \
                 WHERE code_hash = $3 AND used_at IS NULL AND expires_at > $1",
            )
            .bind(s.now)
            .bind(s.id)
            .bind(code_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if spent != 1 {
                tx.rollback().await?;
                return Ok(Redeemed::Gone);
            }
            match insert_session!(self, tx, s, limits) {
                Some(ended) => {
                    tx.commit().await?;
                    Ok(Redeemed::Created { ended })
                }
                None => {
                    tx.rollback().await?;
                    Ok(Redeemed::TooMany)
                }
            }
        })
    }

    /// Forgets codes that expired before `before` (kept a while after their expiry, so a
    /// replay is still recognised and its session ended).
    pub async fn prune_codes(&self, before: i64) -> Result<u64, StoreError> {
        with_pool!(self, pool, {
            Ok(sqlx::query("DELETE FROM oauth_codes WHERE expires_at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected())
        })
    }

    pub async fn session(&self, id: &str) -> Result<Option<SessionRow>, StoreError> {
        with_pool!(self, pool, {
            sqlx::query(
                "SELECT id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at, \
                   ended_at, end_reason, client_id, scope, parent_id FROM sessions WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(session_from_row)
            .transpose()
        })
    }

    /// Ends the web session `parent_id` and every app session authorised from it (RP-initiated
    /// logout). The ids of the sessions this call ended.
    pub async fn end_session_family(
        &self,
        parent_id: &str,
        now: i64,
        reason: &str,
    ) -> Result<Vec<String>, StoreError> {
        with_pool!(self, pool, {
            let rows = sqlx::query(
                "UPDATE sessions SET ended_at = $1, end_reason = $2 \
                 WHERE (id = $3 OR parent_id = $3) AND ended_at IS NULL RETURNING id",
            )
            .bind(now)
            .bind(reason)
            .bind(parent_id)
            .fetch_all(pool)
            .await?;
            ids(&rows)
        })
    }

    /// The scope `user_id` allowed `client_id`, if they did.
    pub async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool, {
            Ok(sqlx::query(
                "SELECT scope FROM oauth_consents WHERE user_id = $1 AND client_id = $2",
            )
            .bind(user_id)
            .bind(client_id)
            .fetch_optional(pool)
            .await?
            .map(|r| r.try_get("scope"))
            .transpose()?)
        })
    }

    /// Remembers that `user_id` allowed `client_id` the `scope` (replacing an earlier answer).
    pub async fn grant_consent(
        &self,
        user_id: &str,
        client_id: &str,
        scope: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool, {
            sqlx::query(
                "INSERT INTO oauth_consents (user_id, client_id, scope, granted_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, client_id) \
                 DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
            )
            .bind(user_id)
            .bind(client_id)
            .bind(scope)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The apps `user_id` allowed, most recent first.
    pub async fn consents_of(&self, user_id: &str) -> Result<Vec<ConsentRow>, StoreError> {
        with_pool!(self, pool, {
            sqlx::query(
                "SELECT g.client_id, c.name, g.scope, g.granted_at FROM oauth_consents g \
                 JOIN oauth_clients c ON c.id = g.client_id WHERE g.user_id = $1 \
                 ORDER BY g.granted_at DESC, c.name",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(consent_from_row)
            .collect()
        })
    }

    /// Forgets what `user_id` allowed `client_id` and ends that app's sessions of the user, in
    /// one transaction: `None` if there was no such consent, else the ids of the ended sessions.
    pub async fn forget_consent(
        &self,
        user_id: &str,
        client_id: &str,
        now: i64,
        reason: &str,
    ) -> Result<Option<Vec<String>>, StoreError> {
        with_pool!(self, pool, {
            let mut tx = pool.begin().await?;
            let forgotten =
                sqlx::query("DELETE FROM oauth_consents WHERE user_id = $1 AND client_id = $2")
                    .bind(user_id)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if forgotten == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            let rows = sqlx::query(
                "UPDATE sessions SET ended_at = $1, end_reason = $2 \
                 WHERE user_id = $3 AND client_id = $4 AND ended_at IS NULL RETURNING id",
            )
            .bind(now)
            .bind(reason)
            .bind(user_id)
            .bind(client_id)
            .fetch_all(&mut *tx)
            .await?;
            let ended = ids(&rows)?;
            tx.commit().await?;
            Ok(Some(ended))
        })
    }

    /// Ends every session of the app `client_id` (it was removed). The ids of those it ended.
    pub async fn end_client_sessions(
        &self,
        client_id: &str,
        now: i64,
        reason: &str,
    ) -> Result<Vec<String>, StoreError> {
        with_pool!(self, pool, {
            let rows = sqlx::query(
                "UPDATE sessions SET ended_at = $1, end_reason = $2 \
                 WHERE client_id = $3 AND ended_at IS NULL RETURNING id",
            )
            .bind(now)
            .bind(reason)
            .bind(client_id)
            .fetch_all(pool)
            .await?;
            ids(&rows)
        })
    }
}
