//! Owns the revocation feed (issue 17): what services that verify jwtgate's tokens on their own
//! read so that a logout reaches them too. The entries are the revocation log's (the same log a
//! cluster's nodes follow), in a public form that says what each refuses and until when; access
//! is by feed credential (`jwtgate feed-credential`), a 256-bit secret kept only as SHA-256.
//! Must not import axum or sqlx.

use std::sync::Arc;

use serde::Serialize;

use crate::domain::core::Core;
use crate::domain::tokens;
use crate::store::{FeedCredentialRow, Revoked, StoreError};

/// Entries one page (or one read of a stream) returns at most.
pub const PAGE: i64 = 1000;
/// What every feed secret starts with, so a leaked one is recognisable (secret scanners).
pub const SECRET_PREFIX: &str = "jgf_";
/// Longest credential name, in characters.
const MAX_NAME_CHARS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the name must be 1 to {MAX_NAME_CHARS} printable characters")]
    InvalidName,
    #[error("no live feed credential with id {0}")]
    NoSuchCredential(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One entry as the feed publishes it: what it refuses, and until when it can matter (after
/// `until` no unexpired token can match it, and readers may forget it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedEntry {
    /// Every token carrying `sid = session`.
    Session {
        seq: i64,
        session: String,
        until: i64,
    },
    /// Every token of `sub = user` with `iat < issued_before`.
    User {
        seq: i64,
        user: String,
        issued_before: i64,
        until: i64,
    },
    /// Every token signed with `kid` (the key is also gone from the JWKS).
    Key { seq: i64, kid: String, until: i64 },
}

impl FeedEntry {
    pub fn seq(&self) -> i64 {
        match self {
            FeedEntry::Session { seq, .. }
            | FeedEntry::User { seq, .. }
            | FeedEntry::Key { seq, .. } => *seq,
        }
    }
}

/// One read of the log, from a reader's cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FeedPage {
    /// Which log: another id means another log, whose `seq`s say nothing of this one's.
    pub log_id: String,
    /// The reader's cursor did not belong to this log (another `log_id`, or past its head: a
    /// restored database), so the page starts from the beginning; apply it all again.
    pub reset: bool,
    pub entries: Vec<FeedEntry>,
    /// The cursor to ask from next (`after`, or `Last-Event-ID` on the stream).
    pub next: i64,
    /// The newest `seq` when the log was read.
    pub head: i64,
    /// More entries wait after `next`: ask again at once.
    pub more: bool,
}

/// A feed credential as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedCredential {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl From<FeedCredentialRow> for FeedCredential {
    fn from(row: FeedCredentialRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Feed {
    core: Arc<Core>,
}

impl Feed {
    pub fn new(core: Arc<Core>) -> Self {
        Self { core }
    }

    /// Makes a credential named `name`: its id and its secret, which is shown this once.
    pub async fn add_credential(&self, name: &str) -> Result<(String, String), FeedError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(FeedError::InvalidName);
        }
        let id = tokens::random_id();
        let secret = tokens::prefixed_secret(SECRET_PREFIX);
        self.core
            .store()
            .add_feed_credential(
                &id,
                name,
                &tokens::secret_sha256(&secret),
                self.core.clock().now(),
            )
            .await?;
        Ok((id, secret))
    }

    pub async fn credentials(&self) -> Result<Vec<FeedCredential>, FeedError> {
        Ok(self
            .core
            .store()
            .feed_credentials()
            .await?
            .into_iter()
            .map(FeedCredential::from)
            .collect())
    }

    /// Revokes credential `id`: requests with it are refused from now on, and its open streams
    /// end at their next read of the log.
    pub async fn revoke_credential(&self, id: &str) -> Result<(), FeedError> {
        if self
            .core
            .store()
            .revoke_feed_credential(id, self.core.clock().now())
            .await?
        {
            Ok(())
        } else {
            Err(FeedError::NoSuchCredential(id.to_owned()))
        }
    }

    /// The id of the live credential `secret` is, if any. Anything that does not look like a
    /// feed secret is refused without a database read.
    pub async fn authenticate(&self, secret: &str) -> Result<Option<String>, FeedError> {
        if !secret.starts_with(SECRET_PREFIX) || secret.len() > 128 {
            return Ok(None);
        }
        Ok(self
            .core
            .store()
            .feed_credential_by_hash(&tokens::secret_sha256(secret))
            .await?)
    }

    /// The entries after `after` (up to [`PAGE`]). A cursor from another log (`log_id` given
    /// and different) or past the head (the database was restored from an older copy) reads
    /// from the beginning, with `reset` set: entries are idempotent, so applying them again
    /// is safe, and no entry the reader has not seen is skipped.
    pub async fn page(&self, after: i64, log_id: Option<&str>) -> Result<FeedPage, FeedError> {
        let store = self.core.store();
        // The head first: every entry up to it is committed, so `more` is never a lie.
        let head = store.revocation_head().await?;
        let current = store.revocation_log_id().await?;
        let reset = log_id.is_some_and(|id| id != current) || after > head;
        let after = if reset { 0 } else { after.max(0) };
        let read = store.revocations_after(after, PAGE).await?;
        let horizon = self.core.revocations().horizon();
        let entries = read
            .entries
            .into_iter()
            .map(|entry| match entry.revoked {
                Revoked::Session { id, at } => FeedEntry::Session {
                    seq: entry.seq,
                    session: id,
                    until: at + horizon,
                },
                Revoked::User { id, cutoff } => FeedEntry::User {
                    seq: entry.seq,
                    user: id,
                    issued_before: cutoff,
                    until: cutoff + horizon,
                },
                Revoked::Key { kid, at } => FeedEntry::Key {
                    seq: entry.seq,
                    kid,
                    until: at + horizon,
                },
            })
            .collect::<Vec<_>>();
        Ok(FeedPage {
            log_id: current,
            reset,
            more: entries.len() == usize::try_from(PAGE).unwrap_or(usize::MAX),
            entries,
            next: read.last,
            head: head.max(read.last),
        })
    }
}
