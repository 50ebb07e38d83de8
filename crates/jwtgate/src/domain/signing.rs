//! Owns the signing keys' life: which key signs, which keys the JWKS publishes and the server
//! verifies with, when the next key is added, and revoking a leaked one. Keys live in the
//! database (`store::keys`), private halves sealed under the master key (`shared::keys`), so
//! every node that shares the database and the master key signs with the same key. Must not
//! import axum or sqlx.
//!
//! A key's life, computed from its row and the clock, never stored, so every node reading the
//! same rows agrees without messages:
//!
//! 1. **published** from `publish_at`: in the JWKS, not signing. A key is published at least
//!    `key_prepublish_secs` before it signs, which is longer than two JWKS `max-age`s and the
//!    nodes' key poll, so every verifier that follows `Cache-Control` has it first.
//! 2. **active** from `activate_at`: the signing key is the highest generation not revoked
//!    whose `activate_at` has come (Kanidm's rule): all nodes switch at the same instant.
//! 3. **retiring** once a later key is active: verifying only, still in the JWKS until every
//!    token it signed has expired (the longest lifetime of what it signs, plus leeway and
//!    clock skew).
//! 4. **removed** after that: out of the JWKS, its private half destroyed.
//!
//! **revoked** (`jwtgate keys revoke`) at any point: out of the JWKS and the server's key set at
//! the next key poll of every node, so every token it signed is refused. Revoking the signing
//! key promotes the published key, or adds one that signs at once (an emergency cannot wait
//! for pre-publication; verifiers meet an unknown `kid` and refetch).
//!
//! Rotation: every poll, a node that sees the active key's rotation due (or the active key of
//! another algorithm than configured) adds the next key under the store's lock; the unique
//! generation is the backstop. `JWT_SECRET` (HS256) signs when set, and keys are then not
//! rotated here: `jwt_secret_previous` keeps earlier secrets verifying.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use jwtgate_verify::{Algorithm, Jwk, Jwks, Key, KeySet, Verifier};
use serde::Serialize;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::SecretString;
use crate::shared::keys::{self, KeysError, MasterKey};
use crate::store::{KeyChanges, KeyRow, NewKey, Store, StoreError, Unique};

/// Clock difference between nodes tolerated by the key windows (seconds): keys that must sign
/// at once are dated this far back, and retired keys stay published this much longer.
pub const MAX_CLOCK_SKEW: i64 = 60;

/// How keys are made and how long they live.
#[derive(Debug, Clone)]
pub struct KeyRules {
    /// The algorithm of generated keys.
    pub alg: Algorithm,
    pub prepublish: i64,
    /// 0 = never.
    pub rotation: i64,
    /// How long after a key stops signing the last token it signed has expired (seconds).
    pub retain: i64,
}

/// Where a key is in its life (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    Published,
    Active,
    Retiring,
    Removed,
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Published => "published",
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
            KeyState::Removed => "removed",
            KeyState::Revoked => "revoked",
        }
    }

    /// In the JWKS and the server's key set.
    fn verifies(self) -> bool {
        matches!(
            self,
            KeyState::Published | KeyState::Active | KeyState::Retiring
        )
    }
}

/// One key as `jwtgate keys list` and the admin API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: &'static str,
    pub state: KeyState,
    /// `database`, `jwt_secret` or `jwt_secret_previous`.
    pub source: &'static str,
    pub generation: Option<i64>,
    pub publish_at: Option<i64>,
    pub activate_at: Option<i64>,
    /// When it leaves the JWKS (once a later key signs).
    pub retire_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("no key {0}")]
    NoSuchKey(String),
    #[error(
        "signing uses JWT_SECRET (HS256): rotate it by setting a new JWT_SECRET and moving the \
         old one to jwt_secret_previous"
    )]
    SecretManaged,
    #[error(
        "key {0} cannot be opened with this master key: every node sharing a database needs \
         the same master_key_file"
    )]
    WrongMasterKey(String),
    #[error("no key can sign")]
    NoSigningKey,
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error("key {kid}: {source}")]
    Key {
        kid: String,
        source: jwtgate_verify::KeyError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One key row, parsed once (the ring keeps parsed entries across reloads).
struct Entry {
    row: KeyRow,
    alg: Algorithm,
    jwk: Jwk,
    private: Option<Arc<Key>>,
}

/// The keys at one reload: database keys by generation, and the HS256 secrets.
struct Ring {
    entries: Vec<Arc<Entry>>,
    /// The kids of the key set the verifier was last given.
    verifying: Vec<String>,
}

impl Ring {
    /// When a later key (not revoked) started or starts to sign: the end of this one's turn.
    fn superseded_at(&self, e: &Entry) -> Option<i64> {
        self.entries
            .iter()
            .filter(|o| o.row.generation > e.row.generation && o.row.revoked_at.is_none())
            .map(|o| o.row.activate_at)
            .min()
    }

    fn state(&self, e: &Entry, now: i64, retain: i64) -> KeyState {
        if e.row.revoked_at.is_some() {
            return KeyState::Revoked;
        }
        if e.row.destroyed_at.is_some() {
            return KeyState::Removed;
        }
        if now < e.row.activate_at {
            return KeyState::Published;
        }
        match self.superseded_at(e) {
            Some(at) if at <= now && now >= at + retain => KeyState::Removed,
            Some(at) if at <= now => KeyState::Retiring,
            _ => KeyState::Active,
        }
    }

    /// The asymmetric key that signs at `now`.
    fn active(&self, now: i64, retain: i64) -> Option<&Arc<Entry>> {
        self.entries
            .iter()
            .rev()
            .find(|e| self.state(e, now, retain) == KeyState::Active && e.private.is_some())
    }
}

/// The node's view of the signing keys, reloaded from the database every key poll.
pub struct SigningKeys {
    store: Store,
    clock: Clock,
    master: MasterKey,
    rules: KeyRules,
    /// `JWT_SECRET`'s key (signs) and `jwt_secret_previous`'s (verify).
    hs: Option<Arc<Key>>,
    hs_previous: Vec<Arc<Key>>,
    /// The secrets of `hs` and `hs_previous`, to give the verifier keys of its own.
    hs_secrets: Vec<SecretString>,
    ring: ArcSwap<Ring>,
    verifier: Arc<Verifier>,
    /// Counts installs that changed the key set, for anything that waits for a change.
    changes: watch::Sender<u64>,
    /// Held from reading the rows to installing them, so a poll that read the rows before a
    /// revocation on this node cannot install them after it.
    reading: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// A key file's key, or a generated one, ready for the database.
fn new_key(
    master: &MasterKey,
    key: &Key,
    publish_at: i64,
    activate_at: i64,
) -> Result<NewKey, SigningError> {
    let pem = key.to_pkcs8_pem().ok_or(SigningError::NoSigningKey)?;
    let jwk = key.public_jwk().ok_or(SigningError::NoSigningKey)?;
    let public_jwk = serde_json::to_string(&jwk).map_err(|e| SigningError::Key {
        kid: key.kid().to_owned(),
        source: jwtgate_verify::KeyError::Invalid(if e.is_data() { "jwk" } else { "json" }),
    })?;
    Ok(NewKey {
        kid: key.kid().to_owned(),
        alg: key.algorithm().name().to_owned(),
        public_jwk,
        private_enc: master.seal(key.kid(), pem.as_bytes()),
        publish_at,
        activate_at,
    })
}

impl SigningKeys {
    /// Opens the keys: imports key files of earlier versions (once), makes a first key if
    /// there is none, and hands the key set to `verifier`.
    pub async fn open(
        store: Store,
        clock: Clock,
        master: MasterKey,
        rules: KeyRules,
        (current, previous): (Option<SecretString>, Vec<SecretString>),
        file: Option<keys::FileKey>,
        verifier: Arc<Verifier>,
    ) -> Result<Self, SigningError> {
        let hs = current
            .as_ref()
            .map(|s| keys::hs256_key(s.expose()))
            .transpose()?;
        let hs_previous = previous
            .iter()
            .map(|s| keys::hs256_key(s.expose()).map(Arc::new))
            .collect::<Result<_, _>>()?;
        let this = Self {
            store,
            clock,
            master,
            rules,
            hs: hs.map(Arc::new),
            hs_previous,
            hs_secrets: current.into_iter().chain(previous).collect(),
            ring: ArcSwap::from_pointee(Ring {
                entries: Vec::new(),
                verifying: Vec::new(),
            }),
            verifier,
            changes: watch::channel(0).0,
            reading: tokio::sync::Mutex::new(()),
        };
        if let Some(file) = file {
            this.import(file).await?;
        }
        this.tick().await?;
        Ok(this)
    }

    /// Adds a key file's key unless the database has it (by `kid`): signing at once when no
    /// key signs yet (a first start, or an upgrade whose file key was signing), else
    /// pre-published like a rotation. The data directory's generated file is removed once its
    /// key is sealed in the database; an operator's file is left alone.
    async fn import(&self, file: keys::FileKey) -> Result<(), SigningError> {
        let now = self.clock.now();
        let kid = file.key.kid().to_owned();
        let retain = self.rules.retain;
        let mut key = new_key(&self.master, &file.key, now, now + self.rules.prepublish)?;
        let mut added = false;
        let rows = self
            .store
            .change_signing_keys(|rows| {
                if rows.iter().any(|r| r.kid == kid) {
                    return KeyChanges::default();
                }
                let signing_now = self
                    .parse(rows)
                    .is_ok_and(|ring| ring.active(now, retain).is_some());
                if !signing_now {
                    (key.publish_at, key.activate_at) =
                        (now - MAX_CLOCK_SKEW, now - MAX_CLOCK_SKEW);
                }
                added = true;
                KeyChanges {
                    add: Some(key.clone()),
                    ..KeyChanges::default()
                }
            })
            .await?;
        if added {
            tracing::info!(kid, path = %file.path.display(), activate_at = key.activate_at, "imported a signing key file into the database");
        }
        if file.generated && rows.iter().any(|r| r.kid == kid) {
            keys::remove_imported(&file.path);
        }
        Ok(())
    }

    /// Parses rows into a ring, reusing entries already parsed (a private half is opened once).
    fn parse(&self, rows: &[KeyRow]) -> Result<Ring, SigningError> {
        let current = self.ring.load();
        let known: HashMap<&str, &Arc<Entry>> = current
            .entries
            .iter()
            .map(|e| (e.row.kid.as_str(), e))
            .collect();
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            match known.get(row.kid.as_str()) {
                Some(e) if e.row == *row => entries.push(Arc::clone(e)),
                _ => entries.push(Arc::new(self.parse_row(row)?)),
            }
        }
        Ok(Ring {
            entries,
            verifying: Vec::new(),
        })
    }

    fn parse_row(&self, row: &KeyRow) -> Result<Entry, SigningError> {
        let bad = |source| SigningError::Key {
            kid: row.kid.clone(),
            source,
        };
        let alg = Algorithm::from_name(&row.alg)
            .ok_or_else(|| bad(jwtgate_verify::KeyError::Unsupported("stored algorithm")))?;
        let jwk: Jwk = serde_json::from_str(&row.public_jwk)
            .map_err(|_| bad(jwtgate_verify::KeyError::Invalid("stored public JWK")))?;
        let private = match &row.private_enc {
            Some(sealed) if row.revoked_at.is_none() => {
                let pem = self
                    .master
                    .open(&row.kid, sealed)
                    .map_err(|_| SigningError::WrongMasterKey(row.kid.clone()))?;
                let pem = String::from_utf8(pem)
                    .map_err(|_| bad(jwtgate_verify::KeyError::Invalid("stored private key")))?;
                let key = Key::from_pem(&pem, alg, Some(row.kid.clone())).map_err(bad)?;
                Some(Arc::new(key))
            }
            _ => None,
        };
        Ok(Entry {
            row: row.clone(),
            alg,
            jwk,
            private,
        })
    }

    /// Installs a parsed ring: the verifier gets a new key set only when the set of keys
    /// verifying changed (a new set empties its verdict cache).
    fn install(&self, mut ring: Ring) -> Result<(), SigningError> {
        let now = self.clock.now();
        let retain = self.rules.retain;
        let mut set = KeySet::empty();
        let mut kids = Vec::new();
        for e in &ring.entries {
            if ring.state(e, now, retain).verifies() {
                let key = Key::from_jwk(&e.jwk).map_err(|source| SigningError::Key {
                    kid: e.row.kid.clone(),
                    source,
                })?;
                kids.push(e.row.kid.clone());
                set.add_verification_key(key)
                    .map_err(|source| SigningError::Key {
                        kid: e.row.kid.clone(),
                        source,
                    })?;
            }
        }
        for secret in &self.hs_secrets {
            let key = keys::hs256_key(secret.expose())?;
            kids.push(key.kid().to_owned());
            // A previous secret equal to the current one is one key, not an error.
            if set.get(key.kid()).is_none() {
                set.add_verification_key(key)
                    .map_err(|source| SigningError::Key {
                        kid: String::new(),
                        source,
                    })?;
            }
        }
        kids.sort();
        kids.dedup();
        let changed = kids != self.ring.load().verifying;
        ring.verifying = kids;
        self.ring.store(Arc::new(ring));
        if changed {
            self.verifier.set_keys(set);
            self.changes.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// Reads the keys again (the key poll): what the CLI or another node added or revoked.
    pub async fn reload(&self) -> Result<(), SigningError> {
        let _reading = self.reading.lock().await;
        self.read_and_install().await
    }

    /// What [`SigningKeys::reload`] does, for a caller that holds `reading`.
    async fn read_and_install(&self) -> Result<(), SigningError> {
        let rows = self.store.signing_keys().await?;
        let ring = self.parse(&rows)?;
        self.install(ring)
    }

    /// One key poll: reload, then (without `JWT_SECRET`) add the next key if none signs or its
    /// rotation is due, and destroy the private halves of removed keys.
    pub async fn tick(&self) -> Result<(), SigningError> {
        self.reload().await?;
        let now = self.clock.now();
        if self.hs.is_some() {
            return Ok(());
        }
        if self.due(&self.ring.load(), now).is_none() && self.destroyable(now).is_empty() {
            return Ok(());
        }
        self.change(|ring, now| KeyChangesWith {
            add: self.due(ring, now),
            destroy: (self.destroyable_in(ring, now), now),
            ..KeyChangesWith::default()
        })
        .await
    }

    /// `(publish_at, activate_at)` of the key to add now, if one is due: none signs (first
    /// start: it signs at once), or no key is waiting and the active one's rotation is due or it
    /// is of another algorithm than configured.
    fn due(&self, ring: &Ring, now: i64) -> Option<(i64, i64)> {
        let retain = self.rules.retain;
        let waiting = ring
            .entries
            .iter()
            .any(|e| ring.state(e, now, retain) == KeyState::Published);
        match ring.active(now, retain) {
            None if !waiting => Some((now - MAX_CLOCK_SKEW, now - MAX_CLOCK_SKEW)),
            None => None,
            Some(_) if waiting => None,
            Some(active) => {
                let rotation_due = self.rules.rotation > 0
                    && now >= active.row.activate_at + self.rules.rotation - self.rules.prepublish;
                (rotation_due || active.alg != self.rules.alg)
                    .then_some((now, now + self.rules.prepublish))
            }
        }
    }

    fn destroyable(&self, now: i64) -> Vec<String> {
        self.destroyable_in(&self.ring.load(), now)
    }

    fn destroyable_in(&self, ring: &Ring, now: i64) -> Vec<String> {
        ring.entries
            .iter()
            .filter(|e| {
                e.row.private_enc.is_some()
                    && e.row.destroyed_at.is_none()
                    && matches!(
                        ring.state(e, now, self.rules.retain),
                        KeyState::Removed | KeyState::Revoked
                    )
            })
            .map(|e| e.row.kid.clone())
            .collect()
    }

    /// Decides over the rows as they are under the store's lock (not as this node last read
    /// them) and installs the result. `decide` names `(publish_at, activate_at)` for a key to
    /// add; it is generated only then. A conflict on the generation means another node added
    /// the key first: its key is read and used.
    async fn change(
        &self,
        decide: impl FnOnce(&Ring, i64) -> KeyChangesWith,
    ) -> Result<(), SigningError> {
        let _reading = self.reading.lock().await;
        let now = self.clock.now();
        let mut failure = None;
        let result = self
            .store
            .change_signing_keys(|rows| {
                let ring = match self.parse(rows) {
                    Ok(ring) => ring,
                    Err(e) => {
                        failure = Some(e);
                        return KeyChanges::default();
                    }
                };
                let wanted = decide(&ring, now);
                let add = match wanted.add {
                    Some((publish, activate)) => {
                        match Key::generate(self.rules.alg)
                            .map_err(|source| SigningError::Key {
                                kid: String::new(),
                                source,
                            })
                            .and_then(|key| new_key(&self.master, &key, publish, activate))
                        {
                            Ok(key) => Some(key),
                            Err(e) => {
                                failure = Some(e);
                                return KeyChanges::default();
                            }
                        }
                    }
                    None => None,
                };
                KeyChanges {
                    revoke: wanted.revoke,
                    activate: wanted.activate,
                    add,
                    destroy: wanted.destroy,
                }
            })
            .await;
        if let Some(e) = failure {
            return Err(e);
        }
        match result {
            Ok(rows) => {
                let ring = self.parse(&rows)?;
                self.install(ring)
            }
            Err(StoreError::Conflict(Unique::Other(_))) => {
                tracing::info!("another node added the next signing key first");
                self.read_and_install().await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `jwtgate keys rotate`: publishes the next key now (it signs after the pre-publication
    /// time), unless one is already waiting. The key waiting to sign.
    pub async fn rotate(&self) -> Result<KeyInfo, SigningError> {
        if self.hs.is_some() {
            return Err(SigningError::SecretManaged);
        }
        self.change(|ring, now| {
            let waiting = ring
                .entries
                .iter()
                .any(|e| ring.state(e, now, self.rules.retain) == KeyState::Published);
            let add = match ring.active(now, self.rules.retain) {
                _ if waiting => None,
                None => Some((now - MAX_CLOCK_SKEW, now - MAX_CLOCK_SKEW)),
                Some(_) => Some((now, now + self.rules.prepublish)),
            };
            KeyChangesWith {
                add,
                ..KeyChangesWith::default()
            }
        })
        .await?;
        let now = self.clock.now();
        self.list()
            .into_iter()
            .rev()
            .find(|k| k.generation.is_some() && k.activate_at.is_some_and(|a| a > now))
            .or_else(|| {
                self.list()
                    .into_iter()
                    .find(|k| k.state == KeyState::Active)
            })
            .ok_or(SigningError::NoSigningKey)
    }

    /// `jwtgate keys revoke KID`: the key leaves the JWKS and every node's key set at its next
    /// poll, so every token it signed is refused. If it was signing, the published key signs at
    /// once, or a new key does.
    pub async fn revoke(&self, kid: &str) -> Result<KeyInfo, SigningError> {
        if self
            .hs
            .iter()
            .chain(&self.hs_previous)
            .any(|k| k.kid() == kid)
        {
            return Err(SigningError::SecretManaged);
        }
        let mut known = false;
        self.change(|ring, now| {
            let retain = self.rules.retain;
            let Some(target) = ring.entries.iter().find(|e| e.row.kid == kid) else {
                return KeyChangesWith::default();
            };
            known = true;
            if target.row.revoked_at.is_some() {
                return KeyChangesWith::default();
            }
            let mut changes = KeyChangesWith {
                revoke: Some((kid.to_owned(), now)),
                destroy: (vec![kid.to_owned()], now),
                ..KeyChangesWith::default()
            };
            // Revoking the signing key: the newest published key signs at once (verifiers that
            // follow the JWKS have it), else a new key does. Never an older key: its private
            // half sat beside the leaked one.
            let was_signing = ring
                .active(now, retain)
                .is_some_and(|active| active.row.kid == kid);
            if self.hs.is_none() && was_signing {
                let waiting = ring.entries.iter().rev().find(|e| {
                    e.row.kid != kid && ring.state(e, now, retain) == KeyState::Published
                });
                match waiting {
                    Some(w) => changes.activate = Some((w.row.kid.clone(), now - MAX_CLOCK_SKEW)),
                    None => changes.add = Some((now - MAX_CLOCK_SKEW, now - MAX_CLOCK_SKEW)),
                }
            }
            changes
        })
        .await?;
        if !known {
            return Err(SigningError::NoSuchKey(kid.to_owned()));
        }
        // The log holds the revocation (a trigger wrote it): the request's answer waits for the
        // other nodes and wakes the feed, as for a session.
        crate::shared::revocation::note_revoked();
        self.list()
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| SigningError::NoSuchKey(kid.to_owned()))
    }

    /// The key that signs now.
    pub fn signer(&self) -> Result<Arc<Key>, SigningError> {
        if let Some(hs) = &self.hs {
            return Ok(Arc::clone(hs));
        }
        let ring = self.ring.load();
        ring.active(self.clock.now(), self.rules.retain)
            .and_then(|e| e.private.clone())
            .ok_or(SigningError::NoSigningKey)
    }

    /// The JWKS now: every published, active and retiring key (never an HMAC secret).
    pub fn jwks(&self) -> Jwks {
        let now = self.clock.now();
        let ring = self.ring.load();
        let keys = ring
            .entries
            .iter()
            .filter(|e| e.row.publish_at <= now && ring.state(e, now, self.rules.retain).verifies())
            .map(|e| e.jwk.clone())
            .collect();
        Jwks { keys }
    }

    /// The algorithms of the keys that verify now, sorted (for discovery).
    pub fn algorithms(&self) -> Vec<&'static str> {
        let now = self.clock.now();
        let ring = self.ring.load();
        let mut algs: Vec<&'static str> = ring
            .entries
            .iter()
            .filter(|e| ring.state(e, now, self.rules.retain).verifies())
            .map(|e| e.alg.name())
            .chain(
                self.hs
                    .iter()
                    .chain(&self.hs_previous)
                    .map(|k| k.algorithm().name()),
            )
            .collect();
        algs.sort_unstable();
        algs.dedup();
        algs
    }

    /// Every key with its state now: the HS256 secrets first, then the database's by
    /// generation.
    pub fn list(&self) -> Vec<KeyInfo> {
        let now = self.clock.now();
        let retain = self.rules.retain;
        let ring = self.ring.load();
        let secrets = self
            .hs
            .iter()
            .map(|k| (k, KeyState::Active, "jwt_secret"))
            .chain(
                self.hs_previous
                    .iter()
                    .map(|k| (k, KeyState::Retiring, "jwt_secret_previous")),
            )
            .map(|(k, state, source)| KeyInfo {
                kid: k.kid().to_owned(),
                alg: k.algorithm().name(),
                state,
                source,
                generation: None,
                publish_at: None,
                activate_at: None,
                retire_at: None,
                revoked_at: None,
            });
        let stored = ring.entries.iter().map(|e| {
            let mut state = ring.state(e, now, retain);
            if self.hs.is_some() && state == KeyState::Active {
                // JWT_SECRET signs: the database's key only verifies.
                state = KeyState::Retiring;
            }
            KeyInfo {
                kid: e.row.kid.clone(),
                alg: e.alg.name(),
                state,
                source: "database",
                generation: Some(e.row.generation),
                publish_at: Some(e.row.publish_at),
                activate_at: Some(e.row.activate_at),
                retire_at: ring.superseded_at(e).map(|at| at + retain),
                revoked_at: e.row.revoked_at,
            }
        });
        secrets.chain(stored).collect()
    }

    /// Resolves at the next change of the key set (tests wait on it instead of sleeping).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn rules(&self) -> &KeyRules {
        &self.rules
    }
}

/// What [`SigningKeys::change`]'s decision wants: as [`KeyChanges`], with the key to add named
/// by its times only.
#[derive(Default)]
struct KeyChangesWith {
    revoke: Option<(String, i64)>,
    activate: Option<(String, i64)>,
    add: Option<(i64, i64)>,
    destroy: (Vec<String>, i64),
}

/// The HMAC server keys from the database, sealed there on first start: imported from the
/// files an earlier version generated, or from `JWT_SECRET` (the values it derived before),
/// else random. Two nodes starting together keep whichever was stored first.
pub async fn server_secrets(
    store: &Store,
    master: &MasterKey,
    settings: &crate::config::Settings,
    now: i64,
) -> Result<keys::Secrets, SigningError> {
    let mut out = Vec::with_capacity(3);
    for (name, file, label) in keys::SERVER_SECRETS {
        let candidate = match (
            keys::legacy_hmac_key(&settings.data_dir, file)?,
            &settings.jwt_secret,
        ) {
            (Some(bytes), _) => bytes,
            (None, Some(secret)) => keys::derive_bytes(secret.expose().as_bytes(), label).to_vec(),
            (None, None) => keys::random_key_bytes().to_vec(),
        };
        let label = format!("secret:{name}");
        let sealed = store
            .server_secret(name, &master.seal(&label, &candidate), now)
            .await?;
        let bytes = master
            .open(&label, &sealed)
            .map_err(|_| SigningError::WrongMasterKey(label.clone()))?;
        out.push(keys::ServerKey::from_bytes(&bytes));
        let path = settings.data_dir.join(file);
        if path.exists() {
            keys::remove_imported(&path);
        }
    }
    let [refresh, csrf, device]: [keys::ServerKey; 3] =
        out.try_into().map_err(|_| SigningError::NoSigningKey)?;
    Ok(keys::Secrets {
        refresh,
        csrf,
        device,
    })
}
