//! Owns the signing keys' life: which key signs, which keys the JWKS publishes and the server
//! verifies with, when the next key is added, and revoking a leaked one. Keys live in the
//! database (`store::keys`), private halves sealed under the master key (`shared::keys`), so
//! every node that shares the database and the master key signs with the same key. Must not
//! import axum or sqlx.
//!
//! Keys form one chain per algorithm in use: the access tokens' (`signing_key_alg`) and, once
//! its first key exists, the ID tokens' (RS256, as OpenID Connect requires; one chain with the
//! first when `signing_key_alg` is RS256). RSA keys are slow to make, so the ID tokens' chain
//! starts only when the first ID token is signed. A key of an algorithm no longer configured
//! belongs to the access tokens' chain it was part of, and is retired by that chain's next key.
//!
//! A key's life within its chain, computed from its row, the chain's later rows and the clock,
//! never stored, so every node reading the same rows agrees without messages:
//!
//! 1. **published** from `publish_at`: in the JWKS, not signing. A key is published at least
//!    `key_prepublish_secs` before it signs, which is longer than two JWKS `max-age`s and the
//!    nodes' key poll, so every verifier that follows `Cache-Control` has it first.
//! 2. **active** from `activate_at`: a chain's signing key is its highest generation not
//!    revoked whose `activate_at` has come (Kanidm's rule): all nodes switch at the same instant.
//! 3. **retiring** once a later key of its chain is active: verifying only, still in the JWKS
//!    until every token it signed has expired (the longest lifetime of what it signs, plus
//!    leeway and clock skew).
//! 4. **removed** after that: out of the JWKS, its private half destroyed.
//!
//! **revoked** (`jwtgate keys revoke`) at any point: out of the JWKS and the server's key set at
//! the next key poll of every node, so every token it signed is refused. Revoking a chain's
//! signing key promotes that chain's published key, or adds one to it that signs at once (an
//! emergency cannot wait for pre-publication; verifiers meet an unknown `kid` and refetch).
//! The other chain is untouched.
//!
//! Rotation: every poll, a node that sees a chain's rotation due (or its active key of
//! another algorithm than the chain's) adds the chain's next key under the store's lock; the
//! unique generation is the backstop. `JWT_SECRET` (HS256) signs access tokens when set, and
//! their keys are then not rotated here (`jwt_secret_previous` keeps earlier secrets
//! verifying); the ID tokens' chain is kept all the same.

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

/// The algorithm of ID tokens' keys (OpenID Connect Core §15.1: RS256 must be supported).
pub const ID_TOKEN_ALG: Algorithm = Algorithm::RS256;

/// How keys are made and how long they live.
#[derive(Debug, Clone)]
pub struct KeyRules {
    /// The algorithm of access tokens' keys.
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

/// What a key's chain signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyPurpose {
    AccessToken,
    IdToken,
}

impl KeyPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::AccessToken => "access_token",
            KeyPurpose::IdToken => "id_token",
        }
    }
}

/// One key as `jwtgate keys list` and the admin API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: &'static str,
    pub state: KeyState,
    /// What its chain signs: both for one RS256 chain. A key of an algorithm no longer
    /// configured shows what it signed: access tokens.
    pub purpose: Vec<KeyPurpose>,
    /// `database`, `jwt_secret` or `jwt_secret_previous`.
    pub source: &'static str,
    pub generation: Option<i64>,
    pub publish_at: Option<i64>,
    pub activate_at: Option<i64>,
    /// When it leaves the JWKS (once a later key of its chain signs).
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
    #[error(
        "no {alg} keys are in use: access tokens are signed with {access}, and ID tokens' RS256 \
         keys start with the first ID token"
    )]
    UnusedAlgorithm {
        alg: &'static str,
        access: &'static str,
    },
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

/// The database keys at one reload, by generation.
struct Ring {
    entries: Vec<Arc<Entry>>,
    /// The access tokens' algorithm (`KeyRules::alg`): the chain of every key not of the ID
    /// tokens' algorithm.
    access: Algorithm,
    /// The kids of the key set the verifier was last given.
    verifying: Vec<String>,
}

impl Ring {
    fn new(entries: Vec<Arc<Entry>>, access: Algorithm) -> Self {
        Ring {
            entries,
            access,
            verifying: Vec::new(),
        }
    }

    /// The chain a key of `alg` belongs to, named by the chain's algorithm. The ID tokens'
    /// algorithm is wanted as long as it has a key, so only the access tokens' algorithm
    /// changes: a key of an algorithm no longer configured is in the access tokens' chain,
    /// retired by that chain's next key and never by an ID tokens' key.
    fn chain(&self, alg: Algorithm) -> Algorithm {
        if alg == ID_TOKEN_ALG {
            ID_TOKEN_ALG
        } else {
            self.access
        }
    }

    /// Whether the ID tokens' chain has been started (it is never stopped).
    fn id_tokens_started(&self) -> bool {
        self.entries.iter().any(|e| e.alg == ID_TOKEN_ALG)
    }

    /// When a later key of its chain (not revoked) started or starts to sign: the end of this
    /// one's turn.
    fn superseded_at(&self, e: &Entry) -> Option<i64> {
        let chain = self.chain(e.alg);
        self.entries
            .iter()
            .filter(|o| {
                o.row.generation > e.row.generation
                    && o.row.revoked_at.is_none()
                    && self.chain(o.alg) == chain
            })
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

    /// The key of `chain` that signs at `now`.
    fn active(&self, chain: Algorithm, now: i64, retain: i64) -> Option<&Arc<Entry>> {
        self.entries.iter().rev().find(|e| {
            self.chain(e.alg) == chain
                && self.state(e, now, retain) == KeyState::Active
                && e.private.is_some()
        })
    }

    /// Whether a key of `chain` is published and waits to sign.
    fn waiting(&self, chain: Algorithm, now: i64, retain: i64) -> bool {
        self.entries.iter().any(|e| {
            self.chain(e.alg) == chain && self.state(e, now, retain) == KeyState::Published
        })
    }

    /// The database key that signs access tokens at `now`: the access tokens' chain's, else
    /// (its first key still published after `signing_key_alg` changed from RS256, or after
    /// `JWT_SECRET` was removed) the ID tokens' chain's, which every verifier already has.
    fn access_signer(&self, now: i64, retain: i64) -> Option<&Arc<Entry>> {
        self.active(self.access, now, retain)
            .or_else(|| self.active(ID_TOKEN_ALG, now, retain))
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
            ring: ArcSwap::from_pointee(Ring::new(Vec::new(), rules.alg)),
            rules,
            hs: hs.map(Arc::new),
            hs_previous,
            hs_secrets: current.into_iter().chain(previous).collect(),
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
                    .is_ok_and(|ring| ring.access_signer(now, retain).is_some());
                if !signing_now {
                    (key.publish_at, key.activate_at) =
                        (now - MAX_CLOCK_SKEW, now - MAX_CLOCK_SKEW);
                }
                added = true;
                KeyChanges {
                    add: vec![key.clone()],
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
        Ok(Ring::new(entries, self.rules.alg))
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

    /// One key poll: reload, then add the next key of each chain kept here whose key is due,
    /// and destroy the private halves of removed keys.
    pub async fn tick(&self) -> Result<(), SigningError> {
        self.reload().await?;
        let now = self.clock.now();
        let ring = self.ring.load();
        if self.due(&ring, now).is_empty() && self.destroyable_in(&ring, now).is_empty() {
            return Ok(());
        }
        self.change(|ring, now| KeyChangesWith {
            add: self.due(ring, now),
            destroy: (self.destroyable_in(ring, now), now),
            ..KeyChangesWith::default()
        })
        .await
    }

    /// The chains this node keeps (adds their keys, replaces a revoked signing key): the access
    /// tokens' unless `JWT_SECRET` signs them, and the ID tokens' once it has been started.
    fn kept(&self, ring: &Ring) -> Vec<Algorithm> {
        let access = self.hs.is_none().then_some(self.rules.alg);
        let id_tokens = ring.id_tokens_started().then_some(ID_TOKEN_ALG);
        let mut chains: Vec<Algorithm> = access.into_iter().chain(id_tokens).collect();
        chains.dedup();
        chains
    }

    /// The key that signs what `chain` signs at `now` (for the access tokens' chain, see
    /// [`Ring::access_signer`]).
    fn signing_for<'r>(
        &self,
        ring: &'r Ring,
        chain: Algorithm,
        now: i64,
    ) -> Option<&'r Arc<Entry>> {
        if chain == self.rules.alg {
            ring.access_signer(now, self.rules.retain)
        } else {
            ring.active(chain, now, self.rules.retain)
        }
    }

    /// The keys to add now, as `(chain, publish_at, activate_at)`.
    fn due(&self, ring: &Ring, now: i64) -> Vec<(Algorithm, i64, i64)> {
        self.kept(ring)
            .into_iter()
            .filter_map(|chain| {
                let (publish, activate) = self.due_in(ring, chain, now)?;
                Some((chain, publish, activate))
            })
            .collect()
    }

    /// `(publish_at, activate_at)` of the key to add to `chain` now, if one is due: none signs
    /// (the chain's first key: it signs at once), or none of the chain is waiting and the key
    /// signing for it is due for rotation or of another algorithm than the chain's.
    fn due_in(&self, ring: &Ring, chain: Algorithm, now: i64) -> Option<(i64, i64)> {
        match self.signing_for(ring, chain, now) {
            _ if ring.waiting(chain, now, self.rules.retain) => None,
            None => Some((now - MAX_CLOCK_SKEW, now - MAX_CLOCK_SKEW)),
            Some(active) => {
                let rotation_due = self.rules.rotation > 0
                    && now >= active.row.activate_at + self.rules.rotation - self.rules.prepublish;
                (rotation_due || active.alg != chain).then_some((now, now + self.rules.prepublish))
            }
        }
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
    /// them) and installs the result. `decide` names `(algorithm, publish_at, activate_at)` of
    /// each key to add; a key is generated only then. A conflict on the generation means
    /// another node added the key first: its key is read and used.
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
                let add = wanted
                    .add
                    .into_iter()
                    .map(|(alg, publish, activate)| {
                        let key = Key::generate(alg).map_err(|source| SigningError::Key {
                            kid: String::new(),
                            source,
                        })?;
                        new_key(&self.master, &key, publish, activate)
                    })
                    .collect::<Result<Vec<_>, _>>();
                let add = match add {
                    Ok(add) => add,
                    Err(e) => {
                        failure = Some(e);
                        return KeyChanges::default();
                    }
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

    /// `jwtgate keys rotate [--alg ALG]`: publishes the next key of the chain of `alg` (the
    /// access tokens' when `None`) now; it signs after the pre-publication time. Nothing is added
    /// while one waits. The chain's key waiting to sign, else its signing key.
    pub async fn rotate(&self, alg: Option<Algorithm>) -> Result<KeyInfo, SigningError> {
        let chain = alg.unwrap_or(self.rules.alg);
        let mut kept = true;
        self.change(|ring, now| {
            kept = self.kept(ring).contains(&chain);
            let add = if !kept || ring.waiting(chain, now, self.rules.retain) {
                None
            } else if self.signing_for(ring, chain, now).is_some() {
                Some((now, now + self.rules.prepublish))
            } else {
                Some((now - MAX_CLOCK_SKEW, now - MAX_CLOCK_SKEW))
            };
            KeyChangesWith {
                add: add
                    .map(|(publish, activate)| (chain, publish, activate))
                    .into_iter()
                    .collect(),
                ..KeyChangesWith::default()
            }
        })
        .await?;
        if !kept {
            return Err(if self.hs.is_some() && chain == self.rules.alg {
                SigningError::SecretManaged
            } else {
                SigningError::UnusedAlgorithm {
                    alg: chain.name(),
                    access: self.access_name(),
                }
            });
        }
        let now = self.clock.now();
        let ring = self.ring.load();
        let retain = self.rules.retain;
        ring.entries
            .iter()
            .rev()
            .find(|e| {
                ring.chain(e.alg) == chain && ring.state(e, now, retain) == KeyState::Published
            })
            .or_else(|| ring.active(chain, now, retain))
            .map(|e| self.info(&ring, e, now))
            .ok_or(SigningError::NoSigningKey)
    }

    /// `jwtgate keys revoke KID`: the key leaves the JWKS and every node's key set at its next
    /// poll, so every token it signed is refused. If it was signing, its chain's published key
    /// signs at once, or a new key of its chain does.
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
            // Revoking a chain's signing key: the chain's newest published key signs at once
            // (verifiers that follow the JWKS have it), else a new key does. Never an older key: its private
            // half sat beside the leaked one.
            let chain = ring.chain(target.alg);
            let was_signing = ring
                .active(chain, now, retain)
                .is_some_and(|active| active.row.kid == kid);
            if was_signing && self.kept(ring).contains(&chain) {
                let waiting = ring.entries.iter().rev().find(|e| {
                    e.row.kid != kid
                        && ring.chain(e.alg) == chain
                        && ring.state(e, now, retain) == KeyState::Published
                });
                let at = now - MAX_CLOCK_SKEW;
                match waiting {
                    Some(w) => changes.activate = Some((w.row.kid.clone(), at)),
                    None => changes.add = vec![(chain, at, at)],
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

    /// The key that signs access tokens (and links) now.
    pub fn signer(&self) -> Result<Arc<Key>, SigningError> {
        if let Some(hs) = &self.hs {
            return Ok(Arc::clone(hs));
        }
        let ring = self.ring.load();
        ring.access_signer(self.clock.now(), self.rules.retain)
            .and_then(|e| e.private.clone())
            .ok_or(SigningError::NoSigningKey)
    }

    /// The RS256 key that signs ID tokens now. The first call of an install starts the ID
    /// tokens' chain: its first key signs at once (dated back for nodes whose clock is behind),
    /// added under the store's lock so nodes starting it together add one key.
    pub async fn id_token_signer(&self) -> Result<Arc<Key>, SigningError> {
        let retain = self.rules.retain;
        let signing = |ring: &Ring| {
            ring.active(ID_TOKEN_ALG, self.clock.now(), retain)
                .filter(|e| e.alg == ID_TOKEN_ALG)
                .and_then(|e| e.private.clone())
        };
        if let Some(key) = signing(&self.ring.load()) {
            return Ok(key);
        }
        self.change(|ring, now| {
            let start = ring.active(ID_TOKEN_ALG, now, retain).is_none()
                && !ring.waiting(ID_TOKEN_ALG, now, retain);
            let at = now - MAX_CLOCK_SKEW;
            KeyChangesWith {
                add: start
                    .then_some((ID_TOKEN_ALG, at, at))
                    .into_iter()
                    .collect(),
                ..KeyChangesWith::default()
            }
        })
        .await?;
        signing(&self.ring.load()).ok_or(SigningError::NoSigningKey)
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

    /// Every key with its state now: the HS256 secrets first, then the database's by
    /// generation.
    pub fn list(&self) -> Vec<KeyInfo> {
        let now = self.clock.now();
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
                purpose: vec![KeyPurpose::AccessToken],
                source,
                generation: None,
                publish_at: None,
                activate_at: None,
                retire_at: None,
                revoked_at: None,
            });
        let stored = ring.entries.iter().map(|e| self.info(&ring, e, now));
        secrets.chain(stored).collect()
    }

    /// One database key as the list shows it.
    fn info(&self, ring: &Ring, e: &Entry, now: i64) -> KeyInfo {
        let retain = self.rules.retain;
        let chain = ring.chain(e.alg);
        // With JWT_SECRET, an RS256 chain signs ID tokens only.
        let access = chain == self.rules.alg && (self.hs.is_none() || chain != ID_TOKEN_ALG);
        let purpose: Vec<KeyPurpose> = [
            access.then_some(KeyPurpose::AccessToken),
            (chain == ID_TOKEN_ALG).then_some(KeyPurpose::IdToken),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut state = ring.state(e, now, retain);
        if self.hs.is_some() && state == KeyState::Active && !purpose.contains(&KeyPurpose::IdToken)
        {
            // JWT_SECRET signs access tokens: the database's key only verifies.
            state = KeyState::Retiring;
        }
        KeyInfo {
            kid: e.row.kid.clone(),
            alg: e.alg.name(),
            state,
            purpose,
            source: "database",
            generation: Some(e.row.generation),
            publish_at: Some(e.row.publish_at),
            activate_at: Some(e.row.activate_at),
            retire_at: ring.superseded_at(e).map(|at| at + retain),
            revoked_at: e.row.revoked_at,
        }
    }

    /// The access tokens' algorithm, as errors name it.
    fn access_name(&self) -> &'static str {
        match &self.hs {
            Some(_) => "HS256 (JWT_SECRET)",
            None => self.rules.alg.name(),
        }
    }

    /// Resolves at the next change of the key set (tests wait on it instead of sleeping).
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub fn rules(&self) -> &KeyRules {
        &self.rules
    }
}

/// What [`SigningKeys::change`]'s decision wants: as [`KeyChanges`], with each key to add named
/// by its algorithm and times only.
#[derive(Default)]
struct KeyChangesWith {
    revoke: Option<(String, i64)>,
    activate: Option<(String, i64)>,
    add: Vec<(Algorithm, i64, i64)>,
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

#[cfg(test)]
mod tests {
    use super::*;

    const RETAIN: i64 = 1000;

    /// A ring of `(algorithm, activate_at)` keys by generation. The ring looks at a private
    /// half only to know it is there, so one cheap ES256 key stands in for every one.
    fn ring(access: Algorithm, keys: &[(Algorithm, i64)]) -> Ring {
        let private = Arc::new(Key::generate(Algorithm::ES256).expect("key"));
        let jwk = private.public_jwk().expect("jwk");
        let entries = (1..)
            .zip(keys)
            .map(|(generation, &(alg, activate_at))| {
                Arc::new(Entry {
                    row: KeyRow {
                        kid: format!("k{generation}"),
                        alg: alg.name().to_owned(),
                        generation,
                        public_jwk: String::new(),
                        private_enc: Some(Vec::new()),
                        publish_at: activate_at - 100,
                        activate_at,
                        revoked_at: None,
                        destroyed_at: None,
                    },
                    alg,
                    jwk: jwk.clone(),
                    private: Some(Arc::clone(&private)),
                })
            })
            .collect();
        Ring::new(entries, access)
    }

    fn states(ring: &Ring, now: i64) -> Vec<&'static str> {
        ring.entries
            .iter()
            .map(|e| ring.state(e, now, RETAIN).as_str())
            .collect()
    }

    fn kid(entry: Option<&Arc<Entry>>) -> Option<&str> {
        entry.map(|e| e.row.kid.as_str())
    }

    #[test]
    fn a_key_is_retired_only_by_a_later_key_of_its_own_algorithm() {
        use Algorithm::{ES256, RS256};
        let ring = ring(ES256, &[(ES256, 0), (RS256, 10), (ES256, 20), (RS256, 30)]);
        assert_eq!(
            states(&ring, 15),
            ["active", "active", "published", "published"]
        );
        assert_eq!(
            states(&ring, 25),
            ["retiring", "active", "active", "published"]
        );
        assert_eq!(
            states(&ring, 35),
            ["retiring", "retiring", "active", "active"]
        );
        assert_eq!(
            states(&ring, 20 + RETAIN),
            ["removed", "retiring", "active", "active"]
        );
        assert_eq!(kid(ring.active(ES256, 25, RETAIN)), Some("k3"));
        assert_eq!(kid(ring.active(RS256, 25, RETAIN)), Some("k2"));
        assert!(ring.waiting(RS256, 25, RETAIN) && !ring.waiting(ES256, 25, RETAIN));
    }

    #[test]
    fn a_key_of_an_algorithm_no_longer_configured_is_retired_by_the_access_chain_alone() {
        use Algorithm::{ES256, EdDSA, RS256};
        // ES256 was configured, then EdDSA: the ES256 key signs access tokens until the EdDSA
        // key does; the ID tokens' key added between them retires neither.
        let ring = ring(EdDSA, &[(ES256, 0), (RS256, 10), (EdDSA, 20)]);
        assert_eq!(states(&ring, 15), ["active", "active", "published"]);
        assert_eq!(kid(ring.access_signer(15, RETAIN)), Some("k1"));
        assert_eq!(states(&ring, 25), ["retiring", "active", "active"]);
        assert_eq!(kid(ring.access_signer(25, RETAIN)), Some("k3"));
        assert_eq!(kid(ring.active(RS256, 25, RETAIN)), Some("k2"));
    }

    #[test]
    fn with_rs256_configured_access_and_id_tokens_share_one_chain() {
        use Algorithm::{ES256, RS256};
        let ring = ring(RS256, &[(ES256, 0), (RS256, 10), (RS256, 20)]);
        assert_eq!(states(&ring, 15), ["retiring", "active", "published"]);
        assert_eq!(states(&ring, 25), ["retiring", "retiring", "active"]);
        assert_eq!(kid(ring.access_signer(25, RETAIN)), Some("k3"));
        assert_eq!(kid(ring.active(RS256, 25, RETAIN)), Some("k3"));
    }

    #[test]
    fn the_id_token_key_signs_access_tokens_while_their_own_chain_has_no_active_key() {
        use Algorithm::{ES256, RS256};
        // signing_key_alg changed from RS256 to ES256: the RS256 chain goes on for ID tokens,
        // and signs access tokens until the published ES256 key signs.
        let ring = ring(ES256, &[(RS256, 0), (ES256, 20)]);
        assert_eq!(kid(ring.active(ES256, 15, RETAIN)), None);
        assert_eq!(kid(ring.access_signer(15, RETAIN)), Some("k1"));
        assert_eq!(kid(ring.access_signer(25, RETAIN)), Some("k2"));
        assert_eq!(states(&ring, 25), ["active", "active"]);
    }
}
