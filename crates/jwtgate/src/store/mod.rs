//! Owns persistence: the one `Store` type over SQLite or PostgreSQL, its connection pool,
//! migrations and every SQL statement. The only module that imports sqlx. Must not import axum,
//! the domain or jwtgate-verify.
//!
//! Each method is a unit of work: one that needs atomicity opens and commits its own transaction,
//! and transactions never leak out. Rows come back as plain structs. Each statement is one SQL
//! string that both dialects read (`$N` placeholders, `CASE` rather than `max`/`greatest`,
//! `LIKE` rather than `instr`/`strpos`); `with_pool!` runs a method's body against whichever
//! pool the store has, compiled once for each.
//!
//! Races are decided in the database. A conditional `UPDATE ... WHERE <still so>` is a row-level
//! guard on both (SQLite runs one writer at a time; PostgreSQL re-checks the condition on the
//! locked row). A guard that looks at *other* rows (the last administrator, an account's
//! sign-ins of the minute, the mail ration) takes a PostgreSQL advisory lock for its
//! transaction first, so two nodes cannot both see room (`lock!`).

/// The `users u` columns `user_from_row` reads, as a literal for `concat!`: sqlx takes only
/// `&'static str` SQL, and one list keeps every query in step with the row type.
macro_rules! user_columns {
    () => {
        "u.id, u.email, u.password_hash, u.roles, u.plan, u.created_at, \
         u.email_verified_at IS NOT NULL AS email_verified"
    };
}

/// The columns of a [`RefreshLookup`], from `r` (the token), `s` (its session) and `u` (its
/// account); a literal for `concat!`.
macro_rules! refresh_lookup_columns {
    () => {
        concat!(
            "r.spent_at, s.id AS s_id, s.user_id AS s_user_id, s.created_at AS s_created_at, \
             s.last_used_at AS s_last_used_at, s.idle_expires_at AS s_idle_expires_at, \
             s.absolute_expires_at AS s_absolute_expires_at, s.ended_at AS s_ended_at, \
             s.end_reason AS s_end_reason, s.client_id AS s_client_id, s.scope AS s_scope, \
             s.parent_id AS s_parent_id, u.disabled_at IS NOT NULL AS u_disabled, ",
            user_columns!()
        )
    };
}

/// Spends the refresh token `$2` at `$1` if it is unspent, its session live at `$1`, its
/// account enabled and its session the client's named by the placeholder `$client` (a refresh
/// token works only for the client it was issued to): one conditional UPDATE, the guard of
/// every rotation.
macro_rules! spend_live_refresh {
    ($client:literal) => {
        concat!(
            "UPDATE refresh_tokens SET spent_at = $1 WHERE token_hash = $2 AND spent_at IS NULL \
             AND EXISTS (SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id \
                         WHERE s.id = refresh_tokens.session_id AND s.ended_at IS NULL \
                         AND s.idle_expires_at > $1 AND s.absolute_expires_at > $1 \
                         AND u.disabled_at IS NULL AND s.client_id = ",
            $client,
            ")"
        )
    };
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever backend it is: the body is
/// compiled once per backend, with the pool's own types.
macro_rules! with_pool {
    ($store:expr, $pool:ident, $body:block) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}

/// Inside a transaction `$tx` of a store method, on PostgreSQL: waits for the advisory lock of
/// the guard `$class` (one of [`locks`]) over `$scope` (an account id, or `""` for the whole
/// guard), held to the end of the transaction, so guards that read other rows decide one at a
/// time. SQLite needs none: it runs one write transaction at a time.
macro_rules! lock {
    ($store:expr, $tx:expr, $class:expr, $scope:expr) => {
        if $store.is_postgres() {
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .bind($class)
                .bind($scope)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// Inside a transaction `$tx` of a store method: creates the session `$s` with its first
/// refresh token under the account's `$limits` (see [`Store::create_session`]). Evaluates to
/// the ids of the sessions that ended to make room, or `None` when the account had its
/// sign-ins of the minute already (the caller rolls back).
macro_rules! insert_session {
    ($store:expr, $tx:ident, $s:expr, $limits:expr) => {{
        let (s, limits) = ($s, $limits);
        lock!($store, $tx, locks::SIGN_INS, s.user_id);
        // One statement checks the rate and inserts: two sign-ins at once cannot both see room.
        let created = sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, idle_expires_at, \
               absolute_expires_at, user_agent, ip, client_id, scope, parent_id) \
             SELECT $1, $2, $3, $3, $4, $5, $6, $7, $9, $10, $11 \
             WHERE (SELECT COUNT(*) FROM sessions WHERE user_id = $2 AND created_at > $3 - 60) < $8",
        )
        .bind(s.id)
        .bind(s.user_id)
        .bind(s.now)
        .bind(s.idle_expires_at)
        .bind(s.absolute_expires_at)
        .bind(s.user_agent)
        .bind(s.ip)
        .bind(i64::from(limits.per_minute))
        .bind(s.client_id)
        .bind(s.scope)
        .bind(s.parent_id)
        .execute(&mut *$tx)
        .await?
        .rows_affected();
        if created == 1 {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)",
            )
            .bind(s.refresh_hash)
            .bind(s.id)
            .bind(s.now)
            .execute(&mut *$tx)
            .await?;
            let ended = sqlx::query(
                "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id IN ( \
                   SELECT id FROM ( \
                     SELECT id, ROW_NUMBER() OVER (ORDER BY last_used_at DESC, created_at DESC, id) AS n \
                     FROM sessions WHERE user_id = $3 AND ended_at IS NULL \
                     AND idle_expires_at > $1 AND absolute_expires_at > $1 \
                   ) ranked WHERE n > $4 \
                 ) RETURNING id",
            )
            .bind(s.now)
            .bind(limits.reason)
            .bind(s.user_id)
            .bind(i64::from(limits.live))
            .fetch_all(&mut *$tx)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<Vec<String>, _>>()?;
            Some(ended)
        } else {
            None
        }
    }};
}

/// Ends the sessions `$end` (an [`EndSessions`]) names inside the transaction `$tx`; their ids.
macro_rules! end_sessions {
    ($tx:expr, $end:expr) => {{
        let end: &$crate::store::EndSessions<'_> = $end;
        let rows = sqlx::query(
            "UPDATE sessions SET ended_at = $1, end_reason = $2 \
             WHERE user_id = $3 AND ended_at IS NULL AND ($4 IS NULL OR id <> $4) RETURNING id",
        )
        .bind(end.now)
        .bind(end.reason)
        .bind(end.user_id)
        .bind(end.keep)
        .fetch_all(&mut *$tx)
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>("id"))
            .collect::<Result<Vec<String>, _>>()?
    }};
}

/// Raises the user's cut-off (`tokens_not_before`: every token issued before it is refused)
/// inside the transaction `$tx`; it never moves back.
macro_rules! raise_cutoff {
    ($tx:expr, $user_id:expr, $cutoff:expr) => {
        sqlx::query(
            "UPDATE users SET tokens_not_before = CASE WHEN coalesce(tokens_not_before, 0) > $1 \
             THEN tokens_not_before ELSE $1 END WHERE id = $2",
        )
        .bind($cutoff)
        .bind($user_id)
        .execute(&mut *$tx)
        .await?
    };
}

/// Spends the single-use link `$jti_hash` of `$purpose` and `$user_id` on `$executor` (the pool,
/// or `&mut *tx`): one `UPDATE ... WHERE used_at IS NULL`, so two presentations at once cannot
/// both win. The rows it changed (1: spent now).
macro_rules! spend_link {
    ($executor:expr, $now:expr, $jti_hash:expr, $purpose:expr, $user_id:expr) => {
        sqlx::query(
            "UPDATE one_time_tokens SET used_at = $1 \
             WHERE jti_hash = $2 AND purpose = $3 AND user_id = $4 AND used_at IS NULL",
        )
        .bind($now)
        .bind($jti_hash)
        .bind($purpose)
        .bind($user_id)
        .execute($executor)
        .await?
        .rows_affected()
    };
}

pub mod admin;
pub mod todos;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Row, SqlitePool};

mod audit;
mod clients;
mod doctor;
mod feed;
mod keys;
mod mail;
mod oauth;
mod one_time;
mod revocations;
mod sessions;
mod throttle;

pub use audit::{AuditRow, NewAuditRow};
pub use clients::{ClientRow, NewClientRow};
pub use feed::FeedCredentialRow;
pub use keys::{KeyChanges, KeyRow, NewKey};
pub use mail::MailRequest;
pub use oauth::{CodeRow, ConsentRow, NewCode, Redeemed};
pub use one_time::Consumed;
pub use revocations::{LogEntry, LogListener, LogPage, LogSignal, Revoked};
pub use sessions::{EndSessions, SessionListRow};
pub use throttle::ThrottleRow;

/// The connections of a store's pool at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Open: idle or in use.
    pub open: u32,
    pub idle: u32,
    /// The most the pool opens (`db_max_connections`).
    pub max: u32,
}

/// Which uniqueness a write ran into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unique {
    /// Another account has this address.
    Email,
    /// Any other constraint, named as the database names it.
    Other(String),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated: {0:?}")]
    Conflict(Unique),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

fn map_unique(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            // PostgreSQL names the constraint; SQLite names the column in its message.
            let named = db
                .constraint()
                .map_or_else(|| db.message().to_owned(), str::to_owned);
            if named == "users_email_key" || named.ends_with("users.email") {
                StoreError::Conflict(Unique::Email)
            } else {
                StoreError::Conflict(Unique::Other(named))
            }
        }
        _ => StoreError::Database(e),
    }
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub roles: Vec<String>,
    pub plan: Option<String>,
    pub created_at: i64,
    /// The address was proven by a verify-email link (the `email_verified` claim).
    pub email_verified: bool,
}

/// A password hash no password matches (not a PHC string): the account can sign in again only
/// through a reset link.
pub const UNUSABLE_PASSWORD_HASH: &str = "!unusable";

/// What [`Store::change_email`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The account has the new address; `old` was its address before.
    Done { old: String },
    /// The link was used meanwhile, or never existed: nothing changed.
    LinkNotSpendable,
    /// The account is gone.
    NoSuchUser,
}

/// An address change of an account, spending the link that proves it.
#[derive(Debug, Clone, Copy)]
pub struct EmailChange<'a> {
    pub user_id: &'a str,
    /// The address the account gets.
    pub email: &'a str,
    /// The `jti` hash of the link this change spends, and the link's purpose.
    pub spends: &'a [u8],
    pub links: &'a str,
    pub now: i64,
    /// Every token of the user issued before this is refused.
    pub cutoff: i64,
}

/// A new password for an account (see [`Store::set_password`]).
#[derive(Debug, Clone, Copy)]
pub struct PasswordUpdate<'a> {
    pub hash: &'a str,
    /// The `jti` hash of the reset token this change spends, if it comes from a reset link.
    pub spends: Option<&'a [u8]>,
    /// The purpose of the single-use links the change spends and retires (`reset`).
    pub links: &'a str,
    /// Every token of the user issued before this is refused.
    pub cutoff: i64,
    /// The sessions that end with it (whose, when, why, and which one stays).
    pub end: EndSessions<'a>,
}

#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub now: i64,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
    pub user_agent: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub refresh_hash: &'a [u8],
    /// `jwtgate`, or the registered app it is for.
    pub client_id: &'a str,
    pub scope: Option<&'a str>,
    pub parent_id: Option<&'a str>,
}

/// How many sessions an account may have (see [`Store::create_session`]).
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits<'a> {
    /// Live sessions at most; beyond, the ones used longest ago end.
    pub live: u32,
    /// Sessions created in any minute at most.
    pub per_minute: u32,
    /// The end reason of a session that made room.
    pub reason: &'a str,
}

/// What [`Store::create_session`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// The session exists; these older ones ended to make room.
    Created { ended: Vec<String> },
    /// The account had its sign-ins of the minute already; nothing was created.
    TooMany,
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    /// The client the session belongs to: `jwtgate` (the web client) or a registered app.
    pub client_id: String,
    /// The scope an app was granted (`None` for the web client).
    pub scope: Option<String>,
    /// The web session an app's session was authorised from.
    pub parent_id: Option<String>,
}

impl SessionRow {
    /// Not ended, and neither idle nor past its lifetime at `now`.
    pub fn live_at(&self, now: i64) -> bool {
        self.ended_at.is_none() && now < self.idle_expires_at && now < self.absolute_expires_at
    }
}

/// A refresh token looked up by hash, with its session and user.
#[derive(Debug, Clone)]
pub struct RefreshLookup {
    pub spent_at: Option<i64>,
    /// The account is disabled (its sessions should have ended with it).
    pub disabled: bool,
    pub session: SessionRow,
    pub user: UserRow,
}

/// The classes of PostgreSQL advisory locks (`lock!`), one per guard that reads other rows.
pub(crate) mod locks {
    /// Changes that must leave an enabled administrator (scope: the whole guard).
    pub const ADMINS: i32 = 0x6a67_0001;
    /// The mail ration (scope: the whole ration, whose server-wide count is one limit).
    pub const MAIL: i32 = 0x6a67_0002;
    /// An account's sign-ins, the per-minute cap and the session cap (scope: the account).
    pub const SIGN_INS: i32 = 0x6a67_0003;
    /// The signing keys: adding, promoting, revoking (scope: all keys).
    pub const KEYS: i32 = 0x6a67_0004;
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
}

/// Where the store lives: `sqlite:PATH` (or a path), or `postgres://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl Location {
    /// `sqlite:PATH`, `sqlite://PATH`, or `postgres://…` / `postgresql://…`.
    pub fn parse(url: &str) -> Result<Location, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| "database_url must be sqlite:PATH or postgres://…".to_owned())?;
        if path.is_empty() {
            return Err("database_url sqlite: needs a path".to_owned());
        }
        Ok(Location::Sqlite(path.into()))
    }
}

/// A value both backends decode (text, integers, flags, and their `Option`s).
pub(crate) trait Decodes:
    for<'r> sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
{
}

impl<T> Decodes for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
{
}

/// A row of either backend, read by column name: the `*_from_row` functions are written once.
pub(crate) trait Columns {
    fn column<T: Decodes>(&self, name: &str) -> Result<T, sqlx::Error>;
}

impl Columns for sqlx::sqlite::SqliteRow {
    fn column<T: Decodes>(&self, name: &str) -> Result<T, sqlx::Error> {
        self.try_get(name)
    }
}

impl Columns for sqlx::postgres::PgRow {
    fn column<T: Decodes>(&self, name: &str) -> Result<T, sqlx::Error> {
        self.try_get(name)
    }
}

fn user_from_row(row: &impl Columns) -> Result<UserRow, StoreError> {
    let roles: String = row.column("roles")?;
    Ok(UserRow {
        id: row.column("id")?,
        email: row.column("email")?,
        password_hash: row.column("password_hash")?,
        roles: serde_json::from_str(&roles).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        plan: row.column("plan")?,
        created_at: row.column("created_at")?,
        email_verified: row.column("email_verified")?,
    })
}

impl Store {
    /// Opens the store at `location`: the SQLite file (created if missing, in WAL mode) or
    /// the PostgreSQL database.
    pub async fn open(location: &Location, max_connections: u32) -> Result<Self, StoreError> {
        match location {
            Location::Sqlite(path) => Self::open_sqlite(path, max_connections).await,
            Location::Postgres(url) => Self::open_postgres(url, max_connections).await,
        }
    }

    /// Opens (creating if missing) the SQLite database file in WAL mode.
    pub async fn open_sqlite(path: &Path, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool: Pool::Sqlite(pool),
        })
    }

    /// Opens the PostgreSQL database at `url`.
    pub async fn open_postgres(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        // One connection first, so a refused connection or a wrong password is said as it
        // is, not as the pool's timeout.
        let probe = <sqlx::PgConnection as sqlx::Connection>::connect_with(&options).await?;
        sqlx::Connection::close(probe).await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool: Pool::Postgres(pool),
        })
    }

    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// The pool's connections now: (open, idle, at most). Read at each metrics scrape; no
    /// query.
    pub fn pool_usage(&self) -> PoolUsage {
        with_pool!(self, pool, {
            PoolUsage {
                open: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                max: pool.options().get_max_connections(),
            }
        })
    }

    /// Which backend, for logs and readiness: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Applies the embedded migrations of this backend.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Pool::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Runs `sql` as it is, for what a test suite must do beside the rules (inject a fault,
    /// reach a state no request can, count rows); the rows it changed. Never called by the
    /// server.
    #[doc(hidden)]
    pub async fn test_sql(&self, sql: &str) -> Result<u64, StoreError> {
        with_pool!(self, pool, {
            let sql = sqlx::AssertSqlSafe(sql.to_owned());
            Ok(sqlx::raw_sql(sql).execute(pool).await?.rows_affected())
        })
    }

    /// The one integer `sql` selects (see [`Store::test_sql`]).
    #[doc(hidden)]
    pub async fn test_count(&self, sql: &str) -> Result<i64, StoreError> {
        with_pool!(self, pool, {
            let sql = sqlx::AssertSqlSafe(sql.to_owned());
            Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
        })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool, {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    pub async fn insert_user(&self, user: &UserRow) -> Result<(), StoreError> {
        with_pool!(self, pool, {
            let roles = serde_json::to_string(&user.roles)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            // An account made with its address already proven (`jwtgate user add --verified`)
            // counts as verified from its creation.
            let verified_at = user.email_verified.then_some(user.created_at);
            sqlx::query(
            "INSERT INTO users (id, email, password_hash, roles, plan, created_at, email_verified_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(roles)
        .bind(&user.plan)
        .bind(user.created_at)
        .bind(verified_at)
        .execute(pool)
        .await
        .map_err(map_unique)?;
            Ok(())
        })
    }

    /// Every account's id and stored address (the one-time address normalisation).
    pub async fn user_emails(&self) -> Result<Vec<(String, String)>, StoreError> {
        with_pool!(self, pool, {
            let rows = sqlx::query("SELECT id, email FROM users ORDER BY created_at, id")
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("email")?)))
                .collect()
        })
    }

    /// Gives the account a new address; `Some(holder)` (and no change) when another account
    /// `holder` already has it.
    pub async fn rename_email(
        &self,
        user_id: &str,
        email: &str,
    ) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool, {
            let renamed = sqlx::query("UPDATE users SET email = $1 WHERE id = $2")
                .bind(email)
                .bind(user_id)
                .execute(pool)
                .await
                .map_err(map_unique);
            match renamed {
                Ok(_) => Ok(None),
                Err(StoreError::Conflict(Unique::Email)) => {
                    let holder = sqlx::query("SELECT id FROM users WHERE email = $1")
                        .bind(email)
                        .fetch_one(pool)
                        .await?;
                    Ok(Some(holder.try_get("id")?))
                }
                Err(e) => Err(e),
            }
        })
    }

    /// Whether the one-time data step `name` has run on this database.
    pub async fn data_step_done(&self, name: &str) -> Result<bool, StoreError> {
        with_pool!(self, pool, {
            let row = sqlx::query("SELECT 1 AS done FROM data_steps WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await?;
            Ok(row.is_some())
        })
    }

    /// Records that the one-time data step `name` has run.
    pub async fn mark_data_step(&self, name: &str, now: i64) -> Result<(), StoreError> {
        with_pool!(self, pool, {
            sqlx::query(
            "INSERT INTO data_steps (name, done_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(now)
        .execute(pool)
        .await?;
            Ok(())
        })
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, StoreError> {
        with_pool!(self, pool, {
            let row = sqlx::query(concat!(
                "SELECT ",
                user_columns!(),
                " FROM users u WHERE u.email = $1"
            ))
            .bind(email)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    /// A new password takes hold, in one transaction: the reset token it spends (if any) is
    /// used, the hash replaced, the user's token cut-off raised, the account's other unused
    /// links of that purpose retired, and its sessions (but `end.keep`) ended. `None` when the
    /// reset token was no longer there to spend (used meanwhile, or unknown): nothing changed.
    /// A crash at any point leaves either all of it or none.
    pub async fn set_password(
        &self,
        u: &PasswordUpdate<'_>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        with_pool!(self, pool, {
            let user_id = u.end.user_id;
            let mut tx = pool.begin().await?;
            if let Some(jti_hash) = u.spends {
                let spent = spend_link!(&mut *tx, u.end.now, jti_hash, u.links, user_id);
                if spent != 1 {
                    tx.rollback().await?;
                    return Ok(None);
                }
            }
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(u.hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            raise_cutoff!(tx, user_id, u.cutoff);
            // A link mailed before the change must not undo it.
            sqlx::query(
            "UPDATE one_time_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = $3 AND used_at IS NULL",
        )
        .bind(u.end.now)
        .bind(user_id)
        .bind(u.links)
        .execute(&mut *tx)
        .await?;
            let ended = end_sessions!(tx, &u.end);
            tx.commit().await?;
            Ok(Some(ended))
        })
    }

    /// Makes `change.email` the account's sign-in address, proven (the confirm link reached it),
    /// and raises its token cut-off (tokens name the old address), spending the confirm link,
    /// in one transaction. `Conflict` (and no change) when another account has the address by
    /// now.
    pub async fn change_email(&self, change: &EmailChange<'_>) -> Result<Changed, StoreError> {
        with_pool!(self, pool, {
            let mut tx = pool.begin().await?;
            let spent = spend_link!(
                &mut *tx,
                change.now,
                change.spends,
                change.links,
                change.user_id
            );
            if spent != 1 {
                tx.rollback().await?;
                return Ok(Changed::LinkNotSpendable);
            }
            let old: Option<String> =
                sqlx::query_scalar("SELECT email FROM users WHERE id = $1 AND deleted_at IS NULL")
                    .bind(change.user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(old) = old else {
                tx.rollback().await?;
                return Ok(Changed::NoSuchUser);
            };
            let renamed = sqlx::query(
            "UPDATE users SET email = $1, email_verified_at = $2, \
             tokens_not_before = CASE WHEN coalesce(tokens_not_before, 0) > $3 THEN tokens_not_before ELSE $3 END WHERE id = $4",
        )
        .bind(change.email)
        .bind(change.now)
        .bind(change.cutoff)
        .bind(change.user_id)
        .execute(&mut *tx)
        .await
        .map_err(map_unique);
            match renamed {
                Ok(_) => {
                    tx.commit().await?;
                    Ok(Changed::Done { old })
                }
                Err(conflict @ StoreError::Conflict(_)) => {
                    tx.rollback().await?;
                    Err(conflict)
                }
                Err(e) => Err(e),
            }
        })
    }

    /// Puts an account's earlier address back (its undo link reached it), in one transaction:
    /// the link spent, the address restored and proven, the password made unusable (whoever
    /// changed the address knew it), every session ended (`end`), the cut-off raised, and the
    /// account's other unused links retired. `None` when the link was no longer spendable;
    /// `Conflict` when another account has the address by now.
    pub async fn undo_email_change(
        &self,
        undo: &EmailChange<'_>,
        end: &EndSessions<'_>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        with_pool!(self, pool, {
            let mut tx = pool.begin().await?;
            let spent = spend_link!(&mut *tx, undo.now, undo.spends, undo.links, undo.user_id);
            if spent != 1 {
                tx.rollback().await?;
                return Ok(None);
            }
            sqlx::query(
            "UPDATE users SET email = $1, email_verified_at = $2, password_hash = $3, \
             tokens_not_before = CASE WHEN coalesce(tokens_not_before, 0) > $4 THEN tokens_not_before ELSE $4 END \
             WHERE id = $5 AND deleted_at IS NULL",
        )
        .bind(undo.email)
        .bind(undo.now)
        .bind(UNUSABLE_PASSWORD_HASH)
        .bind(undo.cutoff)
        .bind(undo.user_id)
        .execute(&mut *tx)
        .await
        .map_err(map_unique)?;
            sqlx::query(
                "UPDATE one_time_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
            )
            .bind(undo.now)
            .bind(undo.user_id)
            .execute(&mut *tx)
            .await?;
            let ended = end_sessions!(tx, end);
            tx.commit().await?;
            Ok(Some(ended))
        })
    }

    /// Stores a rehash of the same password (new parameters); nothing else changes.
    pub async fn update_password_hash(&self, user_id: &str, hash: &str) -> Result<(), StoreError> {
        with_pool!(self, pool, {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(hash)
                .bind(user_id)
                .execute(pool)
                .await?;
            Ok(())
        })
    }

    /// Creates a session and its first refresh token atomically, within the account's limits:
    /// at most `limits.per_minute` sessions created in the last minute (else nothing is created:
    /// [`Created::TooMany`]), and at most `limits.live` live sessions, the ones used longest ago
    /// ending (`limits.reason`) to make room.
    pub async fn create_session(
        &self,
        s: &NewSession<'_>,
        limits: &SessionLimits<'_>,
    ) -> Result<Created, StoreError> {
        with_pool!(self, pool, {
            let mut tx = pool.begin().await?;
            let created = insert_session!(self, tx, s, limits);
            match created {
                Some(ended) => {
                    tx.commit().await?;
                    Ok(Created::Created { ended })
                }
                None => {
                    tx.rollback().await?;
                    Ok(Created::TooMany)
                }
            }
        })
    }

    pub async fn find_refresh(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<RefreshLookup>, StoreError> {
        with_pool!(self, pool, {
            let row = sqlx::query(REFRESH_LOOKUP_SQL)
                .bind(token_hash)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(lookup_from_row).transpose()
        })
    }

    /// Spends `token_hash` and stores its successor, atomically, if the token is unspent, its
    /// session live (not ended, not idle or past its lifetime at `now`) and its account
    /// enabled; the session's idle expiry moves to `idle_until` (never past its lifetime). The
    /// token as it was found (its session before this use), or `None` when any of that did not
    /// hold: another request spent it first, or the session ended meanwhile. The single
    /// `UPDATE ... WHERE spent_at IS NULL` is what makes concurrent refreshes converge.
    ///
    /// The busiest write of all, so each backend gets its best spelling: on PostgreSQL one
    /// statement (a `WITH` may hold writes, each reading what the one before returned), one
    /// round trip for the whole refresh; on SQLite, in process, a transaction of four.
    pub async fn rotate_refresh(
        &self,
        client_id: &str,
        token_hash: &[u8],
        successor_hash: &[u8],
        now: i64,
        idle_until: i64,
    ) -> Result<Option<RefreshLookup>, StoreError> {
        match &self.pool {
            Pool::Postgres(pool) => {
                let row = sqlx::query(concat!(
                    "WITH r AS (",
                    spend_live_refresh!("$5"),
                    " RETURNING session_id, spent_at), \
                     successor AS (INSERT INTO refresh_tokens (token_hash, session_id, issued_at) \
                       SELECT $3, session_id, $1 FROM r ON CONFLICT (token_hash) DO NOTHING), \
                     used AS (UPDATE sessions SET last_used_at = $1, idle_expires_at = \
                       CASE WHEN absolute_expires_at < $4 THEN absolute_expires_at ELSE $4 END \
                       WHERE id IN (SELECT session_id FROM r)) \
                     SELECT ",
                    refresh_lookup_columns!(),
                    " FROM r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id"
                ))
                .bind(now)
                .bind(token_hash)
                .bind(successor_hash)
                .bind(idle_until)
                .bind(client_id)
                .fetch_optional(pool)
                .await?;
                row.as_ref().map(lookup_from_row).transpose()
            }
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                let spent = sqlx::query(spend_live_refresh!("$3"))
                    .bind(now)
                    .bind(token_hash)
                    .bind(client_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if spent != 1 {
                    tx.rollback().await?;
                    return Ok(None);
                }
                let found = sqlx::query(REFRESH_LOOKUP_SQL)
                    .bind(token_hash)
                    .fetch_one(&mut *tx)
                    .await?;
                let found = lookup_from_row(&found)?;
                sqlx::query(
                    "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (token_hash) DO NOTHING",
                )
                .bind(successor_hash)
                .bind(&found.session.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE sessions SET last_used_at = $1, idle_expires_at = \
                     CASE WHEN absolute_expires_at < $2 THEN absolute_expires_at ELSE $2 END \
                     WHERE id = $3",
                )
                .bind(now)
                .bind(idle_until)
                .bind(&found.session.id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(Some(found))
            }
        }
    }

    /// Ends a session (idempotent: the first reason wins). Returns whether this call ended it.
    pub async fn end_session(
        &self,
        session_id: &str,
        now: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        with_pool!(self, pool, {
            let done = sqlx::query(
            "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(session_id)
        .execute(pool)
        .await?
        .rows_affected();
            Ok(done == 1)
        })
    }

    /// Sessions ended at or after `since`: (session id, ended_at). Used to rebuild the
    /// revocation view on startup.
    pub async fn sessions_ended_since(&self, since: i64) -> Result<Vec<(String, i64)>, StoreError> {
        with_pool!(self, pool, {
            let rows = sqlx::query(
                "SELECT id, ended_at FROM sessions WHERE ended_at IS NOT NULL AND ended_at >= $1",
            )
            .bind(since)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok((r.try_get("id")?, r.try_get("ended_at")?)))
                .collect()
        })
    }
}

// Kept as one literal so sqlx sees a `&'static str` (it refuses dynamically built SQL).
const REFRESH_LOOKUP_SQL: &str = concat!(
    "SELECT ",
    refresh_lookup_columns!(),
    " FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id JOIN users u ON u.id = s.user_id \
     WHERE r.token_hash = $1"
);

fn lookup_from_row(row: &impl Columns) -> Result<RefreshLookup, StoreError> {
    Ok(RefreshLookup {
        spent_at: row.column("spent_at")?,
        disabled: row.column("u_disabled")?,
        session: SessionRow {
            id: row.column("s_id")?,
            user_id: row.column("s_user_id")?,
            created_at: row.column("s_created_at")?,
            last_used_at: row.column("s_last_used_at")?,
            idle_expires_at: row.column("s_idle_expires_at")?,
            absolute_expires_at: row.column("s_absolute_expires_at")?,
            ended_at: row.column("s_ended_at")?,
            end_reason: row.column("s_end_reason")?,
            client_id: row.column("s_client_id")?,
            scope: row.column("s_scope")?,
            parent_id: row.column("s_parent_id")?,
        },
        user: user_from_row(row)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite(&dir.path().join("t.db"), 2)
            .await
            .expect("open");
        store.migrate().await.expect("migrate");
        (dir, store)
    }

    fn user(id: &str, email: &str) -> UserRow {
        UserRow {
            id: id.into(),
            email: email.into(),
            password_hash: "h".into(),
            roles: vec!["admin".into()],
            plan: None,
            created_at: 1,
            email_verified: false,
        }
    }

    #[tokio::test]
    async fn duplicate_email_is_a_conflict() {
        let (_d, s) = store().await;
        s.insert_user(&user("1", "a@b.co")).await.expect("first");
        assert!(matches!(
            s.insert_user(&user("2", "a@b.co")).await,
            Err(StoreError::Conflict(Unique::Email))
        ));
        // Another constraint is named as what it is, never taken for the address.
        assert!(matches!(
            s.insert_user(&user("1", "other@b.co")).await,
            Err(StoreError::Conflict(Unique::Other(_)))
        ));
        let found = s.user_by_email("a@b.co").await.expect("q").expect("some");
        assert_eq!(found.roles, vec!["admin".to_owned()]);
    }

    #[tokio::test]
    async fn a_refresh_token_is_spent_exactly_once() {
        let (_d, s) = store().await;
        s.insert_user(&user("u", "a@b.co")).await.expect("user");
        let created = s
            .create_session(
                &NewSession {
                    id: "s",
                    user_id: "u",
                    now: 10,
                    idle_expires_at: 100,
                    absolute_expires_at: 1000,
                    user_agent: None,
                    ip: None,
                    refresh_hash: b"h1",
                    client_id: "jwtgate",
                    scope: None,
                    parent_id: None,
                },
                &SessionLimits {
                    live: 50,
                    per_minute: 10,
                    reason: "session_limit",
                },
            )
            .await
            .expect("session");
        assert_eq!(created, Created::Created { ended: vec![] });
        let spent = s
            .rotate_refresh("jwtgate", b"h1", b"h2", 11, 111)
            .await
            .expect("rotate")
            .expect("spent now");
        // The token as it was found: its session before this use.
        assert_eq!(
            (spent.session.id.as_str(), spent.session.idle_expires_at),
            ("s", 100)
        );
        assert!(
            s.rotate_refresh("jwtgate", b"h1", b"h2", 12, 112)
                .await
                .expect("rotate")
                .is_none()
        );
        let found = s.find_refresh(b"h2").await.expect("q").expect("successor");
        assert_eq!(found.spent_at, None);
        assert_eq!(found.session.idle_expires_at, 111);
        assert!(s.end_session("s", 20, "logout").await.expect("end"));
        assert!(!s.end_session("s", 21, "other").await.expect("end"));
        assert!(
            s.rotate_refresh("jwtgate", b"h2", b"h3", 22, 122)
                .await
                .expect("rotate")
                .is_none()
        );
        assert_eq!(
            s.sessions_ended_since(15).await.expect("q"),
            vec![("s".to_owned(), 20)]
        );
    }
}
