//! Owns wiring: builds the store, keys, verifier, revocation view and `AppState` from `Settings`,
//! binds the listener (port 0 ok) and runs until a shutdown signal, then drains and closes.
//! The one place that knows every module; nothing imports it except `cli` and tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use jwtgate_verify::{KeySet, Policy, Verifier};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Settings;
use crate::domain::accounts::Accounts;
use crate::domain::admin::Admin;
use crate::domain::authorize::Authorize;
use crate::domain::background::Background;
use crate::domain::clients::Clients;
use crate::domain::core::{Core, TokenRules};
use crate::domain::feed::Feed;
use crate::domain::links::{Links, Purpose};
use crate::domain::mail::{MailGate, MailLimits, Mailer};
use crate::domain::oauth::Provider;
use crate::domain::password::{HashParams, PasswordHasher};
use crate::domain::sessions::{SessionRules, Sessions};
use crate::domain::signing::{self, KeyRules, SigningKeys};
use crate::domain::todos::Todos;
use crate::http::{self, AppState, Services};
use crate::metrics::Metrics;
use crate::shared::keys;
use crate::shared::limits::PlanLimiter;
use crate::shared::revocation::Revocations;
use crate::shared::throttle::{LoginThrottle, ThrottleConfig};
use crate::store::{Location, Store};

pub const DATABASE_FILE: &str = "jwtgate.db";

/// How long shutdown waits for background work (mail delivery) before closing the database.
const BACKGROUND_DRAIN: Duration = Duration::from_secs(20);

/// Where the database is: `database_url`, or the SQLite file under the data dir.
pub fn database_location(settings: &Settings) -> anyhow::Result<Location> {
    match &settings.database_url {
        Some(url) => Location::parse(url.expose()).map_err(anyhow::Error::msg),
        None => Ok(Location::Sqlite(settings.data_dir.join(DATABASE_FILE))),
    }
}

/// The database for messages: the SQLite path, or the PostgreSQL host and database without
/// the user or password.
pub fn database_name(location: &Location) -> String {
    match location {
        Location::Sqlite(path) => path.display().to_string(),
        Location::Postgres(url) => {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
            format!("postgres://{}", rest.split('?').next().unwrap_or_default())
        }
    }
}

/// What `check-config` asks of the database, creating nothing: PostgreSQL answers with these
/// credentials; a SQLite file that exists can be opened for writing, and one that does not
/// can be made (its directory exists, or is the data dir, which `serve` makes).
pub async fn check_database(settings: &Settings) -> anyhow::Result<()> {
    let location = database_location(settings)?;
    let name = database_name(&location);
    match &location {
        Location::Postgres(_) => {
            let store = Store::open(&location, 1)
                .await
                .with_context(|| format!("cannot open the database {name}"))?;
            store.close().await;
        }
        Location::Sqlite(path) if path.exists() => {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .with_context(|| format!("cannot open the database {name} for writing"))?;
        }
        Location::Sqlite(path) => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            if let Some(dir) = dir
                && !dir.is_dir()
                && dir != settings.data_dir
            {
                anyhow::bail!(
                    "cannot create the database {name}: its directory {} does not exist",
                    dir.display()
                );
            }
        }
    }
    Ok(())
}

/// Opens the database (a SQLite file is made private to this user first) and applies the
/// embedded migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let location = database_location(settings)?;
    // The data dir holds the keys and the outbox whatever the database.
    crate::files::private_dir(&settings.data_dir)
        .with_context(|| format!("cannot create data dir {}", settings.data_dir.display()))?;
    crate::files::warn_if_shared(&settings.data_dir);
    // Two processes starting on one new SQLite file (a server and the CLI, two servers) would
    // race to switch it to WAL (which SQLite answers "locked" at once) and both apply the first
    // migration (sqlx locks migrations on PostgreSQL only). The file's directory is locked
    // (flock; never the database file itself: closing another descriptor of it would drop
    // SQLite's own locks) until it is open, migrated and normalised.
    let _opening = match &location {
        Location::Sqlite(path) => Some(lock_directory_of(path).await?),
        Location::Postgres(_) => None,
    };
    if let Location::Sqlite(path) = &location {
        // Made (or narrowed) to 0600 before SQLite opens it: its -wal and -shm files take its
        // mode.
        crate::files::private_file(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
    }
    let store = Store::open(&location, settings.db_max_connections)
        .await
        .with_context(|| format!("cannot open the database {}", database_name(&location)))?;
    store.migrate().await.context("database migration failed")?;
    if let Some(found) = crate::domain::email::normalise_stored(&store, Clock::system().now())
        .await
        .context("cannot normalise stored addresses")?
    {
        report_normalised(&found);
    }
    Ok(store)
}

/// An exclusive lock on the directory holding `path`, held until the returned file is dropped.
async fn lock_directory_of(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&dir)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await?;
    locked.with_context(|| format!("cannot lock the directory of {}", path.display()))
}

/// Says what the one-time address normalisation did; collisions and refused addresses are
/// for an operator to resolve (those accounts cannot sign in under their stored spelling).
fn report_normalised(found: &crate::domain::email::Normalised) {
    if found.rewritten > 0 {
        tracing::info!(
            rewritten = found.rewritten,
            "stored addresses brought to Unicode NFC"
        );
    }
    for (user_id, _, holder) in &found.collisions {
        tracing::warn!(
            user_id = %user_id,
            holder = %holder,
            "two accounts share one address once normalised: left unmerged; an administrator \
             must decide which keeps it (the other cannot sign in until then)"
        );
    }
    for (user_id, _) in &found.refused {
        tracing::warn!(
            user_id = %user_id,
            "an account's stored address is not a valid address today (mail to it cannot go \
             out): left as it is"
        );
    }
}

/// Everything `serve` refuses before it opens anything: the settings' rules, the signing key
/// (the file there, of the configured type, strong enough), the mail settings and the hashing
/// parameters. `check-config` runs exactly this, so it fails exactly when `serve` would.
pub fn preflight(settings: &Settings) -> anyhow::Result<()> {
    settings.validate()?;
    keys::check(settings).context("cannot load signing keys")?;
    crate::domain::mail::check_settings(
        settings.smtp_url.as_ref().map(|u| u.expose()),
        &settings.mail_from,
    )
    .context("cannot set up mail")?;
    hash_params(settings)
        .check()
        .map_err(|e| anyhow::anyhow!("the argon2 parameters are not usable: {e}"))?;
    Ok(())
}

fn hash_params(settings: &Settings) -> HashParams {
    HashParams {
        memory_kib: settings.argon2_memory_kib,
        iterations: settings.argon2_iterations,
        parallelism: settings.argon2_parallelism,
    }
}

/// Builds the whole application state (also used by CLI commands that need the domain).
pub async fn build_state(settings: Settings, clock: Clock) -> anyhow::Result<AppState> {
    preflight(&settings)?;
    let store = open_store(&settings).await?;
    crate::files::private_dir(&settings.data_dir)
        .with_context(|| format!("cannot use {}", settings.data_dir.display()))?;
    let master = keys::load_master_key(&settings).context("cannot load the master key")?;
    let secrets = signing::server_secrets(&store, &master, &settings, clock.now())
        .await
        .context("cannot load the server secrets")?;
    let horizon = settings.access_token_ttl_secs + settings.leeway_secs;
    let metrics = if settings.metrics_listen.is_some() {
        Metrics::on()
    } else {
        Metrics::off()
    };
    // On PostgreSQL other nodes may revoke: the view follows the log, under a lease.
    let revocations = if store.is_postgres() {
        Revocations::leased(horizon)
    } else {
        Revocations::new(horizon)
    }
    .with_metrics(metrics.clone());
    let leeway = u32::try_from(settings.leeway_secs).unwrap_or(30);
    let max_lifetime = u32::try_from(settings.access_token_ttl_secs).unwrap_or(900);
    let policy = Policy::new(settings.issuer(), settings.audience.clone())
        .with_leeway(leeway)
        .with_max_lifetime(max_lifetime);
    // Empty until the signing keys hand it theirs (and again at every change).
    let verifier = Verifier::new(KeySet::empty(), policy)
        .with_revocation(Arc::clone(revocations.view()))
        .with_cache(10_000);
    // The cache's hits are counted only for the metrics (an atomic add per verification).
    let verifier = Arc::new(if metrics.is_on() {
        verifier.with_cache_stats()
    } else {
        verifier
    });
    let signing = Arc::new(
        SigningKeys::open(
            store.clone(),
            clock.clone(),
            master,
            KeyRules {
                alg: keys::pem_algorithm(settings.signing_key_alg),
                prepublish: settings.key_prepublish_secs,
                rotation: settings.key_rotation_secs,
                // Every token a key signed has expired this long after it stopped signing:
                // access tokens and the single-use links (the longest-lived), with leeway and
                // clock skew.
                retain: settings.access_token_ttl_secs.max(Purpose::LONGEST_TTL)
                    + settings.leeway_secs
                    + signing::MAX_CLOCK_SKEW,
            },
            (
                settings.jwt_secret.clone(),
                settings.jwt_secret_previous.clone(),
            ),
            keys::file_signing_key(&settings).context("cannot load signing keys")?,
            Arc::clone(&verifier),
        )
        .await
        .context("cannot load signing keys")?,
    );
    let access = {
        let clock = clock.clone();
        jwtgate_verify::axum::Auth::new(Arc::clone(&verifier))
            .with_cookie(http::cookies::ACCESS_COOKIE)
            .with_realm("jwtgate")
            .with_clock(Arc::new(move || clock.now()))
    };
    let workers = settings.effective_hash_workers();
    let hasher = PasswordHasher::new(hash_params(&settings), workers, settings.hash_queue)
        .await
        .context("cannot set up password hashing")?
        .with_metrics(metrics.clone());
    let throttle = LoginThrottle::new(ThrottleConfig {
        free_account: settings.login_free_attempts_account,
        free_ip: settings.login_free_attempts_ip,
        window_secs: settings.login_window_secs,
        max_lockout_secs: settings.login_max_lockout_secs,
        // A quarter of the hashing places, and never fewer than the threads: one address can
        // still keep every hashing thread busy when no one else is logging in.
        in_flight_per_ip: workers.max((workers + settings.hash_queue) / 4),
    });
    // Nodes sharing PostgreSQL count failures together.
    let throttle = Arc::new(if store.is_postgres() {
        throttle.shared_through(store.clone())
    } else {
        throttle
    });
    read_at_scrape(&metrics, &store, &verifier, &hasher, &revocations);
    let core = Arc::new(Core::new(
        store.clone(),
        clock.clone(),
        secrets,
        signing,
        verifier,
        revocations,
        TokenRules {
            issuer: settings.issuer(),
            audience: settings.audience.clone(),
            access_ttl: settings.access_token_ttl_secs,
            leeway: settings.leeway_secs,
        },
    ));
    let restored = core
        .restore_revocations()
        .await
        .map_err(|e| anyhow::anyhow!("cannot rebuild the revocation view: {e}"))?;
    tracing::info!(
        sessions = restored.sessions,
        cutoffs = restored.cutoffs,
        "revocation view rebuilt from the store"
    );
    let sessions = Sessions::new(
        Arc::clone(&core),
        hasher.clone(),
        Arc::clone(&throttle),
        SessionRules {
            idle_ttl: settings.refresh_idle_ttl_secs,
            absolute_ttl: settings.refresh_absolute_ttl_secs,
            grace: settings.refresh_grace_secs,
            require_email_verification: settings.require_email_verification,
            max_sessions: settings.max_sessions_per_user,
            sign_ins_per_minute: settings.login_successes_per_minute,
        },
        metrics.clone(),
    );
    // Each node allows its share of a quota, by the live nodes the revocation follower sees.
    let limits = PlanLimiter::shared(
        &settings.rate_limits,
        clock.clone(),
        core.revocations().live_nodes(),
    )
    .map(Arc::new);
    let background = Background::new();
    let mailer = Mailer::new(
        settings.smtp_url.as_ref().map(|u| u.expose()),
        &settings.mail_from,
        settings.data_dir.join("outbox"),
        clock.clone(),
        background.clone(),
    )
    .context("cannot set up mail")?;
    let gate = MailGate::new(
        store.clone(),
        clock.clone(),
        MailLimits {
            cooldown_secs: settings.mail_cooldown_secs,
            per_recipient_per_hour: settings.mail_recipient_per_hour,
            per_client_per_hour: settings.mail_client_per_hour,
            per_hour: settings.mail_server_per_hour,
        },
    );
    let links = Links::new(
        Arc::clone(&core),
        mailer,
        gate,
        &settings.effective_public_url(),
    );
    let accounts = Accounts::new(
        Arc::clone(&core),
        hasher,
        Arc::clone(&throttle),
        links,
        background,
        settings.require_email_verification,
    );
    let sessions = Arc::new(sessions);
    Ok(AppState::new(Services {
        limits,
        throttle,
        authorize: Authorize::new(Arc::clone(&core)),
        provider: Provider::new(Arc::clone(&core), Arc::clone(&sessions)),
        admin: Arc::new(Admin::new(Arc::clone(&core))),
        clients: Clients::new(Arc::clone(&core)),
        feed: Feed::new(Arc::clone(&core)),
        feed_streams: Arc::default(),
        feed_stop: watch::channel(false).0,
        metrics,
        openapi: crate::http::openapi::to_json(&crate::http::contract()),
        todos: Arc::new(Todos::new(store, clock)),
        sessions,
        accounts: Arc::new(accounts),
        core,
        settings: Arc::new(settings),
        access: Arc::new(access),
    }))
}

/// The metrics read at each scrape rather than counted as they happen: the database pool, the
/// verification cache, the hashing queue and, on PostgreSQL, how current this node's
/// revocation view is. Nothing when metrics are off.
fn read_at_scrape(
    metrics: &Metrics,
    store: &Store,
    verifier: &Arc<Verifier>,
    hasher: &PasswordHasher,
    revocations: &Revocations,
) {
    if !metrics.is_on() {
        return;
    }
    let pool = store.clone();
    metrics.gauges_at_scrape(
        "jwtgate_db_pool_connections",
        "Database pool connections: idle, in use, and the most it opens.",
        "state",
        move || {
            let usage = pool.pool_usage();
            vec![
                ("idle", f64::from(usage.idle)),
                ("in_use", f64::from(usage.open.saturating_sub(usage.idle))),
                ("max", f64::from(usage.max)),
            ]
        },
    );
    let cache = Arc::clone(verifier);
    metrics.counters_at_scrape(
        "jwtgate_verify_cache_lookups",
        "Access-token verifications answered from the verified-token cache (hit) or not (miss).",
        "result",
        move || {
            let stats = cache.cache_stats().unwrap_or_default();
            vec![("hit", stats.hits), ("miss", stats.misses)]
        },
    );
    let queue = hasher.clone();
    metrics.gauge_at_scrape(
        "jwtgate_password_hash_queue_depth",
        "Password hashes waiting for a hashing thread.",
        move || queue.queued() as f64,
    );
    if store.is_postgres() {
        let view = revocations.clone();
        metrics.gauge_at_scrape(
            "jwtgate_revocation_view_fresh",
            "1 while this node's revocation view is within its lease (tokens are checked), else 0.",
            move || if view.is_fresh() { 1.0 } else { 0.0 },
        );
        let applied = revocations.applied();
        metrics.gauge_at_scrape(
            "jwtgate_revocation_log_applied_seq",
            "The last entry of the revocation log this node has applied.",
            move || *applied.borrow() as f64,
        );
        let synced = revocations.clone();
        metrics.gauge_at_scrape(
            "jwtgate_revocation_sync_lag_seconds",
            "Seconds since this node last read the revocation log to its end (-1: not yet).",
            move || synced.since_synced().map_or(-1.0, |d| d.as_secs_f64()),
        );
        let live = revocations.live_nodes();
        metrics.gauge_at_scrape(
            "jwtgate_cluster_live_nodes",
            "Nodes following the revocation log, this one included.",
            move || live.load(std::sync::atomic::Ordering::Acquire) as f64,
        );
    }
}

/// A running application's operations that are not HTTP routes.
#[derive(Clone, Debug)]
pub struct Handle {
    state: AppState,
}

impl Handle {
    /// Resolves once no background work (mail delivery) is in flight.
    pub async fn idle(&self) {
        self.state.accounts.background().idle().await;
    }

    /// What the hourly sweep deletes: (dead sessions, expired single-use tokens, old mail
    /// records).
    pub async fn prune_store(&self) -> anyhow::Result<(u64, u64, u64)> {
        Ok(self.state.core.prune_store().await?)
    }

    /// `jwtgate user add`: an account made by an operator; its id.
    pub async fn add_user(
        &self,
        email: &str,
        password: &str,
        roles: &[&str],
        verified: bool,
    ) -> anyhow::Result<String> {
        let roles = roles.iter().map(|r| (*r).to_owned()).collect();
        let password = crate::domain::password::Password::new(password.to_owned());
        let user = self
            .state
            .accounts
            .add_user(email, password, roles, verified)
            .await?;
        Ok(user.id)
    }

    /// The signing keys (tests rotate, revoke and wait for key changes through it).
    pub fn signing(&self) -> &Arc<SigningKeys> {
        self.state.core.signing()
    }

    /// The last `seq` of the revocation log this node applied, as it changes (PostgreSQL).
    pub fn revocations_applied(&self) -> watch::Receiver<i64> {
        self.state.core.revocations().applied()
    }

    /// The revocation feed (its credentials are made by the CLI).
    pub fn feed(&self) -> &Feed {
        &self.state.feed
    }

    /// The OAuth client registry.
    pub fn clients(&self) -> &Clients {
        &self.state.clients
    }

    /// The store the application runs on.
    pub fn store(&self) -> &Store {
        self.state.core.store()
    }
}

/// Stops a running [`Application`] (the same path as SIGTERM / Ctrl-C).
#[derive(Clone, Debug)]
pub struct ShutdownHandle(watch::Sender<bool>);

impl ShutdownHandle {
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    /// `metrics_listen`'s listener, bound with the main one (port 0 resolved).
    metrics: Option<(TcpListener, SocketAddr)>,
    state: AppState,
    shutdown: watch::Sender<bool>,
    /// The listener's certificate, when it speaks TLS.
    tls: Option<Arc<http::tls::Certificates>>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Clock::system()).await
    }

    /// As [`Application::build`], with an injected clock (tests move it instead of sleeping).
    pub async fn build_with_clock(mut settings: Settings, clock: Clock) -> anyhow::Result<Self> {
        // The certificate before anything else: a server told to speak TLS never starts
        // without it.
        let tls = match (&settings.tls_cert_file, &settings.tls_key_file) {
            (Some(cert), Some(key)) => Some(Arc::new(http::tls::Certificates::load(cert, key)?)),
            _ => None,
        };
        let listen = settings.listen;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let addr = listener.local_addr()?;
        // The address actually bound (port 0 resolved): an unset issuer follows it.
        settings.listen = addr;
        let metrics = match settings.metrics_listen {
            Some(at) => {
                let listener = TcpListener::bind(at)
                    .await
                    .with_context(|| format!("cannot listen for metrics on {at}"))?;
                let bound = listener.local_addr()?;
                settings.metrics_listen = Some(bound);
                Some((listener, bound))
            }
            None => None,
        };
        for warning in settings.warnings() {
            tracing::warn!("{warning}");
        }
        let state = build_state(settings, clock).await?;
        let (shutdown, _) = watch::channel(false);
        Ok(Self {
            listener,
            addr,
            metrics,
            state,
            shutdown,
            tls,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `GET /metrics` is served, when `metrics_listen` is set (port 0 resolved).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, addr)| *addr)
    }

    /// What a test suite (or a program embedding the server) may do besides HTTP.
    pub fn handle(&self) -> Handle {
        Handle {
            state: self.state.clone(),
        }
    }

    /// The settings the server runs with: the address it bound, and an unset issuer resolved
    /// to it.
    pub fn settings(&self) -> &Settings {
        &self.state.settings
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle(self.shutdown.clone())
    }

    /// Serves until SIGTERM, Ctrl-C or the shutdown handle fires; in-flight requests drain,
    /// background tasks stop, then the database pool is closed.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self {
            listener,
            metrics,
            state,
            shutdown,
            tls,
            ..
        } = self;
        let signal_tx = shutdown.clone();
        tokio::spawn(async move {
            os_signal().await;
            signal_tx.send_replace(true);
        });
        let acceptor = tls.as_ref().map(http::tls::Certificates::acceptor);
        if let Some(certificates) = tls {
            tokio::spawn(reload_on_sighup(certificates, shutdown.subscribe()));
        }

        let sweeper = {
            let core = Arc::clone(&state.core);
            let throttle = Arc::clone(&state.throttle);
            let limits = state.limits.clone();
            let mut stop = shutdown.subscribe();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(60));
                for minute in 0u64.. {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                    core.prune();
                    throttle.prune(core.clock().now());
                    if let Some(limits) = &limits {
                        limits.prune();
                    }
                    // The database once an hour (and at startup).
                    if minute % 60 == 0 {
                        throttle.prune_shared(core.clock().now()).await;
                        match core.prune_store().await {
                            Ok((sessions, one_time, mails)) => {
                                tracing::debug!(sessions, one_time, mails, "pruned the store");
                            }
                            Err(e) => tracing::warn!(error = %e, "pruning dead sessions failed"),
                        }
                    }
                }
            })
        };

        // The key poll: keys the CLI or another node added or revoked, a due rotation, the
        // private halves of removed keys. A failure (the database away) keeps the keys as they
        // are: the active key signs on, and no key signs unpublished.
        let key_poll = {
            let signing = Arc::clone(state.core.signing());
            let mut stop = shutdown.subscribe();
            tokio::spawn(async move {
                let every = Duration::from_secs(crate::config::KEY_POLL_SECS.unsigned_abs());
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                    if let Err(e) = signing.tick().await {
                        tracing::warn!(error = %e, "key poll failed; the keys stay as they were");
                    }
                }
            })
        };

        let follower = if state.core.store().is_postgres() {
            Some(
                crate::shared::revocation::follow(
                    state.core.store(),
                    state.core.revocations().clone(),
                    state.settings.node_id(),
                    shutdown.subscribe(),
                )
                .context("cannot start the revocation follower")?,
            )
        } else {
            None
        };

        let core = Arc::clone(&state.core);
        let background = state.accounts.background().clone();
        let limits = http::serve::Limits {
            header_read_timeout: Duration::from_secs(state.settings.header_read_timeout_secs),
            request_timeout: Duration::from_secs(state.settings.request_timeout_secs),
            max_connections: http::serve::connection_cap(),
            shutdown_grace: Duration::from_secs(state.settings.shutdown_grace_secs),
        };
        // The metrics on a listener of their own, stopped by the same signal as the rest; plain
        // HTTP even beside TLS (a scraper on the machine or its private network).
        let metrics = metrics.map(|(listener, addr)| {
            tracing::info!(%addr, "serving metrics at /metrics");
            let mut stop = shutdown.subscribe();
            tokio::spawn(http::serve::serve(
                listener,
                http::metrics::router(state.metrics.clone()),
                limits,
                None,
                async move {
                    let _ = stop.wait_for(|s| *s).await;
                },
            ))
        });
        let mut stop = shutdown.subscribe();
        let feed_stop = state.feed_stop.clone();
        http::serve::serve(
            listener,
            http::router(state),
            limits,
            acceptor,
            async move {
                let _ = stop.wait_for(|s| *s).await;
                tracing::info!("shutting down: draining in-flight requests");
                // Feed streams never finish on their own: they end now, their readers reconnect
                // to another node.
                feed_stop.send_replace(true);
            },
        )
        .await;
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        let _ = sweeper.await;
        let _ = key_poll.await;
        if let Some(follower) = follower {
            // Told to stop with everything else; it closes its own connection.
            let _ = tokio::task::spawn_blocking(move || follower.join()).await;
        }
        // Mail and other work requests left behind, before the pool it writes to is closed.
        if !background.drain(BACKGROUND_DRAIN).await {
            tracing::warn!(
                left = background.in_flight(),
                "shutting down with background work unfinished"
            );
        }
        core.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Re-reads the certificate and key on every SIGHUP until shutdown: new handshakes present
/// the new pair, open connections keep theirs; a pair that cannot be used is logged and the
/// one in use stays.
async fn reload_on_sighup(
    certificates: Arc<http::tls::Certificates>,
    mut stop: watch::Receiver<bool>,
) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP: the TLS certificate is read at start only");
            return;
        };
        loop {
            tokio::select! {
                _ = hangups.recv() => match certificates.reload() {
                    Ok(()) => tracing::info!("SIGHUP: reloaded the TLS certificate and key"),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: the TLS certificate in use stays"),
                },
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (certificates, stop.wait_for(|s| *s).await);
    }
}

async fn os_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
