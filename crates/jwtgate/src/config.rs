//! Owns `Settings`: built-in defaults, then an optional TOML file, then `JWTGATE_*` environment
//! variables (and `JWT_SECRET`), validated once into typed values.
//! Must not import axum, sqlx or the domain: every other module receives a validated `Settings`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A secret string whose `Debug`/`Display`/`Serialize` never show the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The only way to read the value: grep for it to audit every use.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretString)
    }
}

/// Algorithms accepted for a signing key given as a PEM file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PemAlgorithm {
    /// Ed25519; RFC 9864's name `Ed25519` is read as this too.
    #[serde(alias = "Ed25519")]
    EdDSA,
    ES256,
    RS256,
}

impl std::str::FromStr for PemAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "EdDSA" | "Ed25519" => Ok(Self::EdDSA),
            "ES256" => Ok(Self::ES256),
            "RS256" => Ok(Self::RS256),
            other => Err(format!(
                "unsupported signing_key_alg {other:?} (EdDSA, ES256 or RS256)"
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SameSite {
    Strict,
    Lax,
}

impl std::str::FromStr for SameSite {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Strict" | "strict" => Ok(Self::Strict),
            "Lax" | "lax" => Ok(Self::Lax),
            other => Err(format!(
                "cookie_same_site must be Strict or Lax, not {other:?}"
            )),
        }
    }
}

/// How the log is written: `text` for people, `json` (one object a line) for collectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("log_format must be text or json, not {other:?}")),
        }
    }
}

/// An address block in CIDR notation (`10.0.0.0/8`, `::1/128`; a bare address is a block of
/// one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in the block (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let network = addr
            .parse::<IpAddr>()
            .map_err(|_| format!("{s:?} is not an address or CIDR block"))?
            .to_canonical();
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Every setting of the server. Field names are the TOML keys; the env name is
/// `JWTGATE_` + the upper-cased field name (see [`ENV_KEYS`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub listen: SocketAddr,
    /// A PEM certificate chain (leaf first): with `tls_key_file`, the listener speaks TLS
    /// (HTTP/2 and HTTP/1.1) and re-reads both files on SIGHUP.
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of `tls_cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub tls_key_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// The database: `postgres://user:pass@host/db` (several nodes share it) or `sqlite:PATH`;
    /// unset, the SQLite file `jwtgate.db` under `data_dir`.
    pub database_url: Option<SecretString>,
    /// The `iss` of every token and the base of discovery; unset, `http://` + the address the
    /// server actually listens on (see [`Settings::issuer`]).
    pub issuer: Option<String>,
    pub audience: String,
    pub access_token_ttl_secs: i64,
    pub refresh_idle_ttl_secs: i64,
    pub refresh_absolute_ttl_secs: i64,
    pub refresh_grace_secs: i64,
    pub leeway_secs: i64,
    /// HS256 secret (the tutorials' `JWT_SECRET`); when set, signing uses HS256 with it.
    pub jwt_secret: Option<SecretString>,
    /// Earlier `JWT_SECRET`s: their tokens still verify (each under its own `kid`), so
    /// changing the secret logs nobody out. Env: comma-separated.
    pub jwt_secret_previous: Vec<SecretString>,
    /// A PKCS#8 PEM private key to import and sign with (once pre-published) instead of a
    /// generated key.
    pub signing_key_file: Option<PathBuf>,
    /// The algorithm of generated keys, and of `signing_key_file`.
    pub signing_key_alg: PemAlgorithm,
    /// The key that seals private keys and secrets in the database (base64url, at least 32
    /// bytes: `jwtgate secret`). Unset: `master.key` in `data_dir`, made on first start.
    /// Nodes sharing a database must share it.
    pub master_key_file: Option<PathBuf>,
    /// A new key is in the JWKS at least this long before it signs.
    pub key_prepublish_secs: i64,
    /// A new key is published this long after the last one started signing (0 = never).
    pub key_rotation_secs: i64,
    /// The JWKS `Cache-Control: max-age`.
    pub jwks_max_age_secs: i64,
    /// How often a revocation feed stream reads the log when nothing wakes it, and sends a
    /// heartbeat (well inside the usual 60 s proxy read timeouts).
    pub feed_heartbeat_secs: i64,
    /// This node's name among the nodes sharing a PostgreSQL database; unset, the host name and
    /// the address it listens on. Unique per node.
    pub node_id: Option<String>,
    pub cookie_same_site: SameSite,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Explicit opt-in needed to go below the OWASP Argon2id minimum (test suites only).
    pub allow_weak_password_hashing: bool,
    /// Concurrent Argon2 hashes (0 = number of cores).
    pub hash_workers: usize,
    /// Logins allowed to wait for a hashing slot before the server answers 503.
    pub hash_queue: usize,
    /// Seconds a client has to send a request's headers (and an idle keep-alive connection may
    /// wait for its next request) before the connection is closed.
    pub header_read_timeout_secs: u64,
    /// Seconds a client has to send a whole request, head and body, from its first byte; a body
    /// still arriving then is answered 408 and the connection closed.
    pub request_timeout_secs: u64,
    /// On SIGTERM, how long requests in flight may take to finish before their connections
    /// are closed.
    pub shutdown_grace_secs: u64,
    /// The longest a refusal (429, 503 `server_busy`) to an address that keeps being refused
    /// waits before it is sent (`shared::tarpit`); 0 answers every refusal at once.
    pub refusal_delay_max_ms: u64,
    pub login_free_attempts_account: u32,
    pub login_free_attempts_ip: u32,
    pub login_window_secs: i64,
    pub login_max_lockout_secs: i64,
    /// Live sessions per account at most; a new sign-in ends the one used longest ago
    /// (`session_limit`).
    pub max_sessions_per_user: u32,
    /// Successful sign-ins per account per minute at most (then 429 `too_many_sign_ins`).
    pub login_successes_per_minute: u32,
    pub trust_proxy_headers: bool,
    /// `text` or `json` lines on stderr.
    pub log_format: LogFormat,
    /// One line per request (target `jwtgate::access`): method, route template, status,
    /// latency, request id; never a token or a query string. Off by default: the line costs
    /// about 4 µs of CPU on a 12 µs request and is written synchronously (BENCHMARKS.md).
    pub access_log: bool,
    /// Where `GET /metrics` (Prometheus text) is served, on a listener of its own (never the
    /// public one); unset, no metrics are kept. Port 0 picks a free port.
    pub metrics_listen: Option<SocketAddr>,
    /// The proxies whose `X-Forwarded-For` entries are believed (with `trust_proxy_headers`):
    /// only hops added by these count; the first other address is the client.
    pub trusted_proxies: Vec<Cidr>,
    pub db_max_connections: u32,
    /// Requests a minute per plan on `/api/*`, or `off`. TOML: a table (`[rate_limits]
    /// free = 60`) or a string; env `JWTGATE_RATE_LIMITS="free=60,pro=600"` or `off`.
    pub rate_limits: RateLimits,
    /// Base URL of the links in mails (the web client's origin); the issuer when unset.
    pub public_url: Option<String>,
    /// SMTP server for mail (`smtp://host:port`, `smtps://user:pass@host`,
    /// `smtp://host:587?tls=required`); unset = the development outbox under `data_dir/outbox`.
    pub smtp_url: Option<SecretString>,
    /// The From of every mail.
    pub mail_from: String,
    /// Login waits for a verified address; registration no longer reveals taken addresses.
    pub require_email_verification: bool,
    /// Origins (`https://app.example.com`) whose pages may call the API from the browser:
    /// preflights answered, credentials allowed; nothing is reflected for any other origin.
    pub cors_origins: Vec<String>,
    /// No second mail of one kind to one mailbox (plus-addresses are one mailbox) within this
    /// many seconds.
    pub mail_cooldown_secs: i64,
    /// Mails an hour at most to one mailbox, of all kinds.
    pub mail_recipient_per_hour: u32,
    /// Mails an hour at most that one client address may cause (register, forgot, resend).
    pub mail_client_per_hour: u32,
    /// Mails an hour at most from the whole server.
    pub mail_server_per_hour: u32,
}

/// How often every node reads the signing keys again (seconds): a key added or revoked by the
/// CLI or another node is followed within this.
pub const KEY_POLL_SECS: i64 = 2;

/// The plan of a user who has none recorded (every token carries a plan), which every
/// `rate_limits` must configure.
pub const DEFAULT_PLAN: &str = "free";

/// Per-plan request rates for `/api/*`: requests per minute by plan name. `free` is always
/// present (the plan of users without one, and of tokens naming an unknown plan).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// `false` when configured as `off`: nothing is enforced, the plan names stay known.
    pub enabled: bool,
    pub per_minute: std::collections::BTreeMap<String, u32>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            per_minute: [("free".to_owned(), 60), ("pro".to_owned(), 600)].into(),
        }
    }
}

impl std::str::FromStr for RateLimits {
    type Err = String;
    /// `off`, or `plan=requests_per_minute` pairs separated by commas.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if matches!(s, "off" | "none" | "false" | "0") {
            return Ok(Self {
                enabled: false,
                ..Self::default()
            });
        }
        let mut per_minute = std::collections::BTreeMap::new();
        for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (plan, rate) = pair
                .split_once('=')
                .ok_or_else(|| format!("expected plan=requests_per_minute, got {pair:?}"))?;
            let rate = rate
                .trim()
                .parse::<u32>()
                .map_err(|e| format!("rate of plan {:?}: {e}", plan.trim()))?;
            per_minute.insert(plan.trim().to_owned(), rate);
        }
        Ok(Self {
            enabled: true,
            per_minute,
        })
    }
}

impl fmt::Display for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.enabled {
            return f.write_str("off");
        }
        let pairs: Vec<String> = self
            .per_minute
            .iter()
            .map(|(plan, rate)| format!("{plan}={rate}"))
            .collect();
        f.write_str(&pairs.join(","))
    }
}

impl Serialize for RateLimits {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateLimits {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Text(String),
            Table(std::collections::BTreeMap<String, u32>),
        }
        match Form::deserialize(d)? {
            Form::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Form::Table(per_minute) => Ok(Self {
                enabled: true,
                per_minute,
            }),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert_file: None,
            tls_key_file: None,
            data_dir: PathBuf::from("./data"),
            database_url: None,
            issuer: None,
            audience: "jwtgate".to_owned(),
            access_token_ttl_secs: 15 * 60,
            refresh_idle_ttl_secs: 7 * 24 * 3600,
            refresh_absolute_ttl_secs: 30 * 24 * 3600,
            refresh_grace_secs: 10,
            leeway_secs: 30,
            jwt_secret: None,
            jwt_secret_previous: Vec::new(),
            signing_key_file: None,
            signing_key_alg: PemAlgorithm::ES256,
            master_key_file: None,
            key_prepublish_secs: 15 * 60,
            key_rotation_secs: 30 * 24 * 3600,
            jwks_max_age_secs: 300,
            feed_heartbeat_secs: 15,
            node_id: None,
            cookie_same_site: SameSite::Strict,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            allow_weak_password_hashing: false,
            hash_workers: 0,
            hash_queue: 32,
            header_read_timeout_secs: 10,
            refusal_delay_max_ms: 2000,
            request_timeout_secs: 30,
            shutdown_grace_secs: 10,
            login_free_attempts_account: 5,
            login_free_attempts_ip: 20,
            login_window_secs: 15 * 60,
            login_max_lockout_secs: 15 * 60,
            max_sessions_per_user: 50,
            login_successes_per_minute: 10,
            trust_proxy_headers: false,
            log_format: LogFormat::Text,
            access_log: false,
            metrics_listen: None,
            trusted_proxies: ["127.0.0.0/8", "::1/128"]
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
            db_max_connections: 8,
            rate_limits: RateLimits::default(),
            public_url: None,
            smtp_url: None,
            mail_from: "jwtgate <noreply@localhost>".to_owned(),
            require_email_verification: false,
            cors_origins: Vec::new(),
            mail_cooldown_secs: 60,
            mail_recipient_per_hour: 6,
            mail_client_per_hour: 20,
            mail_server_per_hour: 1000,
        }
    }
}

/// The environment variables read, in the order of the fields.
pub const ENV_KEYS: &[&str] = &[
    "listen",
    "tls_cert_file",
    "tls_key_file",
    "data_dir",
    "database_url",
    "issuer",
    "audience",
    "access_token_ttl_secs",
    "refresh_idle_ttl_secs",
    "refresh_absolute_ttl_secs",
    "refresh_grace_secs",
    "leeway_secs",
    "jwt_secret",
    "jwt_secret_previous",
    "signing_key_file",
    "signing_key_alg",
    "master_key_file",
    "key_prepublish_secs",
    "key_rotation_secs",
    "jwks_max_age_secs",
    "feed_heartbeat_secs",
    "node_id",
    "cookie_same_site",
    "argon2_memory_kib",
    "argon2_iterations",
    "argon2_parallelism",
    "allow_weak_password_hashing",
    "hash_workers",
    "hash_queue",
    "header_read_timeout_secs",
    "refusal_delay_max_ms",
    "request_timeout_secs",
    "shutdown_grace_secs",
    "login_free_attempts_account",
    "login_free_attempts_ip",
    "login_window_secs",
    "login_max_lockout_secs",
    "max_sessions_per_user",
    "login_successes_per_minute",
    "trust_proxy_headers",
    "log_format",
    "access_log",
    "metrics_listen",
    "trusted_proxies",
    "db_max_connections",
    "rate_limits",
    "public_url",
    "smtp_url",
    "mail_from",
    "require_email_verification",
    "cors_origins",
    "mail_cooldown_secs",
    "mail_recipient_per_hour",
    "mail_client_per_hour",
    "mail_server_per_hour",
];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}")]
    Toml {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid value for {name}: {message}")]
    Env { name: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl Settings {
    /// Defaults -> optional TOML file -> environment (`lookup` is `std::env::var` in production,
    /// a map in tests), then validated.
    pub fn load(
        config_file: Option<&Path>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut settings = match config_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Toml {
                    path: path.to_owned(),
                    source: Box::new(source),
                })?
            }
            None => Settings::default(),
        };
        settings.apply_env(&lookup)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Reads the process environment.
    pub fn from_env(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(config_file, |name| std::env::var(name).ok())
    }

    fn apply_env(&mut self, lookup: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        // The tutorials' variable: accepted as is, JWTGATE_JWT_SECRET wins if both are set.
        if let Some(secret) = lookup("JWT_SECRET") {
            self.jwt_secret = Some(SecretString::new(secret));
        }
        for key in ENV_KEYS {
            let name = format!("JWTGATE_{}", key.to_ascii_uppercase());
            let Some(value) = lookup(&name) else { continue };
            let bad = |message: String| ConfigError::Env {
                name: name.clone(),
                message,
            };
            fn num<T: std::str::FromStr>(v: &str) -> Result<T, String>
            where
                T::Err: fmt::Display,
            {
                v.trim().parse::<T>().map_err(|e| e.to_string())
            }
            fn boolean(v: &str) -> Result<bool, String> {
                match v.trim() {
                    "1" | "true" | "yes" | "on" => Ok(true),
                    "0" | "false" | "no" | "off" => Ok(false),
                    other => Err(format!("expected true or false, got {other:?}")),
                }
            }
            match *key {
                "listen" => self.listen = num(&value).map_err(bad)?,
                "data_dir" => self.data_dir = PathBuf::from(value),
                "database_url" => self.database_url = Some(SecretString::new(value)),
                "issuer" => self.issuer = Some(value),
                "audience" => self.audience = value,
                "access_token_ttl_secs" => self.access_token_ttl_secs = num(&value).map_err(bad)?,
                "refresh_idle_ttl_secs" => self.refresh_idle_ttl_secs = num(&value).map_err(bad)?,
                "refresh_absolute_ttl_secs" => {
                    self.refresh_absolute_ttl_secs = num(&value).map_err(bad)?
                }
                "refresh_grace_secs" => self.refresh_grace_secs = num(&value).map_err(bad)?,
                "leeway_secs" => self.leeway_secs = num(&value).map_err(bad)?,
                "jwt_secret" => self.jwt_secret = Some(SecretString::new(value)),
                "jwt_secret_previous" => {
                    self.jwt_secret_previous = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| SecretString::new(s.to_owned()))
                        .collect();
                }
                "tls_cert_file" => self.tls_cert_file = Some(PathBuf::from(value)),
                "tls_key_file" => self.tls_key_file = Some(PathBuf::from(value)),
                "signing_key_file" => self.signing_key_file = Some(PathBuf::from(value)),
                "signing_key_alg" => self.signing_key_alg = value.parse().map_err(bad)?,
                "master_key_file" => self.master_key_file = Some(PathBuf::from(value)),
                "key_prepublish_secs" => self.key_prepublish_secs = num(&value).map_err(bad)?,
                "key_rotation_secs" => self.key_rotation_secs = num(&value).map_err(bad)?,
                "jwks_max_age_secs" => self.jwks_max_age_secs = num(&value).map_err(bad)?,
                "feed_heartbeat_secs" => self.feed_heartbeat_secs = num(&value).map_err(bad)?,
                "node_id" => self.node_id = Some(value),
                "cookie_same_site" => self.cookie_same_site = value.parse().map_err(bad)?,
                "argon2_memory_kib" => self.argon2_memory_kib = num(&value).map_err(bad)?,
                "argon2_iterations" => self.argon2_iterations = num(&value).map_err(bad)?,
                "argon2_parallelism" => self.argon2_parallelism = num(&value).map_err(bad)?,
                "allow_weak_password_hashing" => {
                    self.allow_weak_password_hashing = boolean(&value).map_err(bad)?
                }
                "hash_workers" => self.hash_workers = num(&value).map_err(bad)?,
                "hash_queue" => self.hash_queue = num(&value).map_err(bad)?,
                "header_read_timeout_secs" => {
                    self.header_read_timeout_secs = num(&value).map_err(bad)?
                }
                "request_timeout_secs" => self.request_timeout_secs = num(&value).map_err(bad)?,
                "shutdown_grace_secs" => self.shutdown_grace_secs = num(&value).map_err(bad)?,
                "refusal_delay_max_ms" => self.refusal_delay_max_ms = num(&value).map_err(bad)?,
                "login_free_attempts_account" => {
                    self.login_free_attempts_account = num(&value).map_err(bad)?
                }
                "login_free_attempts_ip" => {
                    self.login_free_attempts_ip = num(&value).map_err(bad)?
                }
                "login_window_secs" => self.login_window_secs = num(&value).map_err(bad)?,
                "login_max_lockout_secs" => {
                    self.login_max_lockout_secs = num(&value).map_err(bad)?
                }
                "max_sessions_per_user" => self.max_sessions_per_user = num(&value).map_err(bad)?,
                "login_successes_per_minute" => {
                    self.login_successes_per_minute = num(&value).map_err(bad)?
                }
                "trust_proxy_headers" => self.trust_proxy_headers = boolean(&value).map_err(bad)?,
                "log_format" => self.log_format = value.parse().map_err(bad)?,
                "access_log" => self.access_log = boolean(&value).map_err(bad)?,
                "metrics_listen" => {
                    self.metrics_listen = match value.trim() {
                        "" | "off" => None,
                        addr => Some(num(addr).map_err(bad)?),
                    }
                }
                "trusted_proxies" => {
                    self.trusted_proxies = value
                        .split(',')
                        .filter(|c| !c.trim().is_empty())
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .map_err(bad)?;
                }
                "db_max_connections" => self.db_max_connections = num(&value).map_err(bad)?,
                "rate_limits" => self.rate_limits = value.parse().map_err(bad)?,
                "public_url" => self.public_url = Some(value),
                "smtp_url" => self.smtp_url = Some(SecretString::new(value)),
                "mail_from" => self.mail_from = value,
                "require_email_verification" => {
                    self.require_email_verification = boolean(&value).map_err(bad)?
                }
                "cors_origins" => {
                    self.cors_origins = value
                        .split(',')
                        .map(str::trim)
                        .filter(|o| !o.is_empty())
                        .map(str::to_owned)
                        .collect();
                }
                "mail_cooldown_secs" => self.mail_cooldown_secs = num(&value).map_err(bad)?,
                "mail_recipient_per_hour" => {
                    self.mail_recipient_per_hour = num(&value).map_err(bad)?
                }
                "mail_client_per_hour" => self.mail_client_per_hour = num(&value).map_err(bad)?,
                "mail_server_per_hour" => self.mail_server_per_hour = num(&value).map_err(bad)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks every cross-field rule once, so the rest of the server can trust the values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if let Some(secret) = &self.jwt_secret {
            if secret.expose().len() < 32 {
                return invalid(
                    "JWT_SECRET is shorter than 32 bytes (256 bits), which RFC 8725 forbids for HS256; \
                     generate one with `jwtgate secret`",
                );
            }
            if self.signing_key_file.is_some() {
                return invalid("set either JWT_SECRET or signing_key_file, not both");
            }
        }
        if self
            .jwt_secret_previous
            .iter()
            .any(|s| s.expose().len() < 32)
        {
            return invalid(
                "every jwt_secret_previous is at least 32 bytes (it was a JWT_SECRET); \
                 generate secrets with `jwtgate secret`",
            );
        }
        if !(1..=86_400).contains(&self.jwks_max_age_secs) {
            return invalid("jwks_max_age_secs must be between 1 and 86400");
        }
        if !(1..=55).contains(&self.feed_heartbeat_secs) {
            return invalid("feed_heartbeat_secs must be between 1 and 55");
        }
        // A verifier that fetched the JWKS just before a node saw the new key refetches one
        // max-age later, and a cache in between (a CDN) may hold it as long again: the key
        // must be published for both, and for the nodes' key poll, before it signs.
        let least = 2 * self.jwks_max_age_secs + KEY_POLL_SECS;
        if self.key_prepublish_secs < least {
            return Err(ConfigError::Invalid(format!(
                "key_prepublish_secs must be at least 2 x jwks_max_age_secs + {KEY_POLL_SECS} s \
                 (the nodes' key poll) = {least}, so every verifier has a new key before it signs"
            )));
        }
        if self.key_rotation_secs != 0 && self.key_rotation_secs <= self.key_prepublish_secs {
            return invalid(
                "key_rotation_secs must be 0 (never) or longer than key_prepublish_secs",
            );
        }
        if self
            .node_id
            .as_ref()
            .is_some_and(|n| n.is_empty() || n.len() > 100 || n.contains(char::is_whitespace))
        {
            return invalid("node_id must be 1 to 100 characters without spaces");
        }
        if self.issuer.as_ref().is_some_and(|i| i.trim().is_empty()) {
            return invalid("issuer must not be empty");
        }
        if self.audience.trim().is_empty() {
            return invalid("audience must not be empty");
        }
        if !(30..=24 * 3600).contains(&self.access_token_ttl_secs) {
            return invalid("access_token_ttl_secs must be between 30 and 86400");
        }
        if self.refresh_idle_ttl_secs < 60
            || self.refresh_absolute_ttl_secs < self.refresh_idle_ttl_secs
        {
            return invalid("refresh_idle_ttl_secs must be >= 60 and <= refresh_absolute_ttl_secs");
        }
        if !(0..=300).contains(&self.refresh_grace_secs) {
            return invalid("refresh_grace_secs must be between 0 and 300");
        }
        if !(0..=300).contains(&self.leeway_secs) {
            return invalid("leeway_secs must be between 0 and 300");
        }
        if self.argon2_parallelism == 0 || self.argon2_iterations == 0 {
            return invalid("argon2_parallelism and argon2_iterations must be >= 1");
        }
        if self.argon2_memory_kib < 8 * self.argon2_parallelism {
            return invalid("argon2_memory_kib must be >= 8 * argon2_parallelism");
        }
        let below_owasp = self.argon2_memory_kib < 19_456 || self.argon2_iterations < 2;
        if below_owasp && !self.allow_weak_password_hashing {
            return invalid(
                "argon2 parameters below the OWASP minimum (m=19456 KiB, t=2); \
                 set allow_weak_password_hashing = true only in test suites",
            );
        }
        if self.hash_queue == 0 || self.hash_queue > 10_000 {
            return invalid("hash_queue must be between 1 and 10000");
        }
        if self.header_read_timeout_secs == 0 || self.header_read_timeout_secs > 300 {
            return invalid("header_read_timeout_secs must be between 1 and 300");
        }
        if self.request_timeout_secs == 0 || self.request_timeout_secs > 3600 {
            return invalid("request_timeout_secs must be between 1 and 3600");
        }
        if self.tls_cert_file.is_some() != self.tls_key_file.is_some() {
            return invalid("tls_cert_file and tls_key_file go together: set both or neither");
        }
        if self
            .metrics_listen
            .is_some_and(|m| m.port() != 0 && m == self.listen)
        {
            return invalid("metrics_listen must be another address than listen");
        }
        if self.shutdown_grace_secs == 0 || self.shutdown_grace_secs > 3600 {
            return invalid("shutdown_grace_secs must be between 1 and 3600");
        }
        if self.refusal_delay_max_ms > 2000 {
            return invalid("refusal_delay_max_ms must be at most 2000 (0 = off)");
        }
        if self.login_free_attempts_account == 0 || self.login_free_attempts_ip == 0 {
            return invalid("login free attempts must be >= 1");
        }
        if self.login_window_secs < 1 || self.login_max_lockout_secs < 1 {
            return invalid("login_window_secs and login_max_lockout_secs must be >= 1");
        }
        if self.max_sessions_per_user == 0 || self.login_successes_per_minute == 0 {
            return invalid("max_sessions_per_user and login_successes_per_minute must be >= 1");
        }
        if self.db_max_connections == 0 {
            return invalid("db_max_connections must be >= 1");
        }
        if let Some(url) = &self.database_url {
            let url = url.expose();
            let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
            let sqlite = url
                .strip_prefix("sqlite:")
                .is_some_and(|p| !p.trim_start_matches('/').is_empty());
            if !(postgres || sqlite) {
                return invalid("database_url must be postgres://… or sqlite:PATH");
            }
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return invalid("public_url must start with https:// or http://");
        }
        if let Some(url) = &self.smtp_url
            && !(url.expose().starts_with("smtp://") || url.expose().starts_with("smtps://"))
        {
            return invalid("smtp_url must start with smtp:// or smtps://");
        }
        for origin in &self.cors_origins {
            if !is_origin(origin) {
                return Err(ConfigError::Invalid(format!(
                    "cors_origins: {origin:?} is not an origin (scheme://host[:port], lower case, \
                     no path, no trailing slash)"
                )));
            }
        }
        if !(0..=3600).contains(&self.mail_cooldown_secs) {
            return invalid("mail_cooldown_secs must be between 0 and 3600");
        }
        if self.mail_recipient_per_hour == 0
            || self.mail_client_per_hour == 0
            || self.mail_server_per_hour == 0
        {
            return invalid(
                "mail_recipient_per_hour, mail_client_per_hour and mail_server_per_hour must be >= 1",
            );
        }
        if self.mail_from.trim().is_empty() {
            return invalid("mail_from must not be empty");
        }
        if !self.rate_limits.per_minute.contains_key(DEFAULT_PLAN) {
            return invalid("rate_limits must include the plan \"free\" (the default plan)");
        }
        for (plan, rate) in &self.rate_limits.per_minute {
            let valid_name = plan.len() <= 32
                && plan.starts_with(|c: char| c.is_ascii_lowercase())
                && plan
                    .bytes()
                    .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
            if !valid_name {
                return invalid("rate_limits plan names must match ^[a-z][a-z0-9_-]{0,31}$");
            }
            if *rate == 0 {
                return invalid(
                    "rate_limits rates must be >= 1 request a minute (or set rate_limits = \"off\")",
                );
            }
        }
        Ok(())
    }

    /// This node's name: `node_id`, or `host/address` (the host name and the listen address).
    pub fn node_id(&self) -> String {
        // The host name too: nodes on several machines often all listen on `0.0.0.0:8080`, and
        // two nodes under one name would count as one (a logout would wait for one of them).
        self.node_id.clone().unwrap_or_else(|| {
            match std::fs::read_to_string("/proc/sys/kernel/hostname") {
                Ok(host) if !host.trim().is_empty() => format!("{}/{}", host.trim(), self.listen),
                _ => self.listen.to_string(),
            }
        })
    }

    /// The issuer: as configured, or `http://` (`https://` with TLS) + `listen` (the address
    /// actually bound, once the server has bound it: `--listen 127.0.0.1:18250` moves links
    /// and discovery with it).
    pub fn issuer(&self) -> String {
        self.issuer.clone().unwrap_or_else(|| {
            let scheme = if self.tls() { "https" } else { "http" };
            format!("{scheme}://{}", self.listen)
        })
    }

    /// Whether the listener speaks TLS.
    pub fn tls(&self) -> bool {
        self.tls_cert_file.is_some() && self.tls_key_file.is_some()
    }

    /// The base of the links in mails: `public_url`, or the issuer.
    pub fn effective_public_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| self.issuer())
    }

    /// What is probably a mistake though valid: an issuer on a loopback address while the
    /// server listens on another (tokens and links would name an address no one else reaches).
    pub fn warnings(&self) -> Vec<String> {
        let issuer = self.issuer();
        let host = issuer
            .split_once("://")
            .map_or(issuer.as_str(), |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or_default();
        let host = host
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
            .trim_matches(['[', ']']);
        let loopback_issuer = host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let mut warnings = Vec::new();
        if self.issuer.is_none() && self.listen.ip().is_unspecified() {
            warnings.push(format!(
                "issuer is unset and the server listens on every interface, so tokens name \
                 {issuer}: set issuer (and public_url) to the URL clients reach"
            ));
        } else if loopback_issuer && !self.listen.ip().is_loopback() {
            warnings.push(format!(
                "issuer {issuer} is a loopback address but the server listens on {}: set issuer \
                 (and public_url) to the URL clients reach",
                self.listen
            ));
        }
        if let Some(metrics) = self.metrics_listen
            && !metrics.ip().is_loopback()
        {
            warnings.push(format!(
                "metrics_listen {metrics} is not a loopback address: the metrics show the \
                 shape of the traffic to anyone who reaches it; keep it behind a firewall"
            ));
        }
        warnings
    }

    /// Number of concurrent password hashes.
    pub fn effective_hash_workers(&self) -> usize {
        if self.hash_workers > 0 {
            self.hash_workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    /// The effective settings as TOML, secrets redacted (for `jwtgate check-config`).
    pub fn redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render settings: {e}\n"))
    }
}

/// `scheme://host[:port]` as a browser sends it in `Origin`: http or https, lower case, no path.
fn is_origin(origin: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, Some(p)),
        _ => (authority, None),
    };
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-[]:".contains(&b))
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::load(None, |k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_valid() {
        let s = load(&[]).expect("defaults");
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.access_token_ttl_secs, 900);
    }

    #[test]
    fn short_jwt_secret_is_refused_naming_the_secret_command() {
        let err = load(&[("JWT_SECRET", "too-short")]).expect_err("short secret");
        assert!(err.to_string().contains("jwtgate secret"), "{err}");
    }

    #[test]
    fn signing_keys_default_to_es256_rotated_monthly_and_published_15_minutes_ahead() {
        let s = load(&[]).expect("defaults");
        assert_eq!(s.signing_key_alg, PemAlgorithm::ES256);
        assert_eq!(
            (
                s.key_prepublish_secs,
                s.key_rotation_secs,
                s.jwks_max_age_secs
            ),
            (900, 30 * 24 * 3600, 300)
        );
    }

    #[test]
    fn node_id_defaults_to_the_host_name_and_the_listen_address() {
        let s = load(&[]).expect("defaults");
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let expected = match host.trim() {
            "" => "127.0.0.1:8080".to_owned(),
            host => format!("{host}/127.0.0.1:8080"),
        };
        assert_eq!(s.node_id(), expected);
        let named = load(&[("JWTGATE_NODE_ID", "node-a")]).expect("valid");
        assert_eq!(named.node_id(), "node-a");
    }

    #[test]
    fn the_rfc_9864_name_ed25519_selects_eddsa() {
        let s = load(&[("JWTGATE_SIGNING_KEY_ALG", "Ed25519")]).expect("valid");
        assert_eq!(s.signing_key_alg, PemAlgorithm::EdDSA);
        let file: Settings = toml::from_str("signing_key_alg = \"Ed25519\"").expect("toml");
        assert_eq!(file.signing_key_alg, PemAlgorithm::EdDSA);
        assert!(load(&[("JWTGATE_SIGNING_KEY_ALG", "Ed448")]).is_err());
    }

    #[test]
    fn a_prepublication_under_twice_the_jwks_max_age_is_refused() {
        let err = load(&[("JWTGATE_KEY_PREPUBLISH_SECS", "601")]).expect_err("too short");
        assert!(
            err.to_string().contains("at least 2 x jwks_max_age_secs"),
            "{err}"
        );
        load(&[("JWTGATE_KEY_PREPUBLISH_SECS", "602")]).expect("2 x 300 + the poll");
        let err = load(&[
            ("JWTGATE_JWKS_MAX_AGE_SECS", "60"),
            ("JWTGATE_KEY_PREPUBLISH_SECS", "200"),
            ("JWTGATE_KEY_ROTATION_SECS", "200"),
        ])
        .expect_err("rotation within the prepublication");
        assert!(err.to_string().contains("key_rotation_secs"), "{err}");
        load(&[("JWTGATE_KEY_ROTATION_SECS", "0")]).expect("never");
    }

    #[test]
    fn previous_jwt_secrets_are_a_list_and_each_must_be_long() {
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        let s = load(&[("JWTGATE_JWT_SECRET_PREVIOUS", &format!("{a}, {b}"))]).expect("valid");
        assert_eq!(s.jwt_secret_previous.len(), 2);
        assert!(!s.redacted_toml().contains(&a));
        let err =
            load(&[("JWTGATE_JWT_SECRET_PREVIOUS", &format!("{a},short"))]).expect_err("short");
        assert!(err.to_string().contains("jwt_secret_previous"), "{err}");
    }

    #[test]
    fn env_overrides_and_secret_is_redacted() {
        let secret = "x".repeat(40);
        let s = load(&[("JWT_SECRET", &secret), ("JWTGATE_AUDIENCE", "api")]).expect("valid");
        assert_eq!(s.audience, "api");
        assert!(!format!("{s:?}").contains(&secret));
        assert!(!s.redacted_toml().contains(&secret));
    }

    #[test]
    fn toml_file_is_read_and_env_wins_over_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("jwtgate.toml");
        std::fs::write(
            &path,
            "issuer = \"https://auth.example\"\naudience = \"file\"\n",
        )
        .expect("write");
        let s = Settings::load(Some(&path), |k| {
            (k == "JWTGATE_AUDIENCE").then(|| "env".to_owned())
        })
        .expect("valid");
        assert_eq!(s.issuer(), "https://auth.example");
        assert_eq!(s.audience, "env");
        std::fs::write(&path, "isuer = \"typo\"\n").expect("write");
        assert!(matches!(
            Settings::load(Some(&path), |_| None),
            Err(ConfigError::Toml { .. })
        ));
    }

    #[test]
    fn rate_limits_read_from_env_table_or_off() {
        let s = load(&[("JWTGATE_RATE_LIMITS", "free=5, pro=50")]).expect("valid");
        assert_eq!(s.rate_limits.per_minute.get("pro"), Some(&50));
        assert!(s.rate_limits.enabled);
        let off = load(&[("JWTGATE_RATE_LIMITS", "off")]).expect("valid");
        assert!(!off.rate_limits.enabled);
        assert!(load(&[("JWTGATE_RATE_LIMITS", "pro=50")]).is_err());
        assert!(load(&[("JWTGATE_RATE_LIMITS", "free=0")]).is_err());
        let table: Settings = toml::from_str("[rate_limits]\nfree = 7\nteam = 70\n").expect("toml");
        assert_eq!(table.rate_limits.per_minute.get("team"), Some(&70));
        let text: Settings = toml::from_str("rate_limits = \"off\"\n").expect("toml");
        assert!(!text.rate_limits.enabled);
        assert!(table.redacted_toml().contains("free=7,team=70"));
    }

    #[test]
    fn mail_settings_are_read_checked_and_the_smtp_url_is_never_shown() {
        let url = "smtps://mailer:hunter2-secret@mail.example.org";
        let s = load(&[
            ("JWTGATE_SMTP_URL", url),
            ("JWTGATE_PUBLIC_URL", "https://app.example.org"),
            ("JWTGATE_REQUIRE_EMAIL_VERIFICATION", "true"),
            ("JWTGATE_MAIL_FROM", "Auth <auth@example.org>"),
        ])
        .expect("valid");
        assert!(s.require_email_verification);
        assert_eq!(s.effective_public_url(), "https://app.example.org");
        assert_eq!(s.mail_from, "Auth <auth@example.org>");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!s.redacted_toml().contains("hunter2"));
        assert_eq!(
            load(&[]).expect("defaults").effective_public_url(),
            "http://127.0.0.1:8080"
        );
        let mut moved = load(&[]).expect("defaults");
        moved.listen = "127.0.0.1:18250".parse().expect("addr");
        assert_eq!(moved.effective_public_url(), "http://127.0.0.1:18250");
        assert!(load(&[("JWTGATE_PUBLIC_URL", "app.example.org")]).is_err());
        assert!(load(&[("JWTGATE_SMTP_URL", "mail.example.org:25")]).is_err());
    }

    #[test]
    fn tls_takes_a_certificate_and_its_key_together_and_makes_the_issuer_https() {
        let err = load(&[("JWTGATE_TLS_CERT_FILE", "/etc/jwtgate/cert.pem")])
            .expect_err("a certificate without its key");
        assert!(err.to_string().contains("set both or neither"), "{err}");
        assert!(load(&[("JWTGATE_TLS_KEY_FILE", "/etc/jwtgate/key.pem")]).is_err());
        let s = load(&[
            ("JWTGATE_TLS_CERT_FILE", "/etc/jwtgate/cert.pem"),
            ("JWTGATE_TLS_KEY_FILE", "/etc/jwtgate/key.pem"),
        ])
        .expect("both");
        assert!(s.tls());
        assert_eq!(s.issuer(), "https://127.0.0.1:8080");
    }

    #[test]
    fn trusted_proxies_are_cidr_blocks() {
        let s =
            load(&[("JWTGATE_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,fd00::/8")]).expect("valid");
        let ip = |t: &str| t.parse::<IpAddr>().expect("ip");
        let trusted = |t: &str| s.trusted_proxies.iter().any(|c| c.contains(ip(t)));
        assert!(trusted("10.200.3.4") && trusted("192.0.2.7") && trusted("fd12::1"));
        assert!(trusted("::ffff:10.1.1.1"), "an IPv4-mapped address is IPv4");
        assert!(!trusted("192.0.2.8") && !trusted("11.0.0.1") && !trusted("127.0.0.1"));
        let default = load(&[]).expect("defaults");
        assert!(
            default
                .trusted_proxies
                .iter()
                .any(|c| c.contains(ip("127.1.2.3")))
        );
        assert!(
            default
                .trusted_proxies
                .iter()
                .any(|c| c.contains(ip("::1")))
        );
        assert!(load(&[("JWTGATE_TRUSTED_PROXIES", "10.0.0.0/33")]).is_err());
        assert!(load(&[("JWTGATE_TRUSTED_PROXIES", "unknown")]).is_err());
        let zero: Cidr = "0.0.0.0/0".parse().expect("all");
        assert!(zero.contains(ip("8.8.8.8")));
    }

    #[test]
    fn a_loopback_issuer_on_a_public_listener_is_warned_about() {
        let mut s = load(&[("JWTGATE_LISTEN", "0.0.0.0:8080")]).expect("valid");
        assert_eq!(s.warnings().len(), 1, "{:?}", s.warnings());
        s.issuer = Some("http://127.0.0.1:8080".into());
        assert_eq!(s.warnings().len(), 1);
        s.listen = "192.0.2.10:443".parse().expect("addr");
        s.issuer = Some("http://localhost:8080".into());
        assert_eq!(s.warnings().len(), 1);
        s.issuer = Some("https://auth.example.org".into());
        assert!(s.warnings().is_empty());
        let local = load(&[]).expect("defaults");
        assert!(local.warnings().is_empty());
    }

    #[test]
    fn metrics_are_off_by_default_and_a_public_metrics_listener_is_warned_about() {
        assert_eq!(load(&[]).expect("defaults").metrics_listen, None);
        let local = load(&[("JWTGATE_METRICS_LISTEN", "127.0.0.1:9464")]).expect("valid");
        assert_eq!(
            local.metrics_listen,
            Some("127.0.0.1:9464".parse().expect("addr"))
        );
        assert!(local.warnings().is_empty());
        let public = load(&[("JWTGATE_METRICS_LISTEN", "0.0.0.0:9464")]).expect("valid");
        assert!(
            public.warnings()[0].contains("metrics_listen"),
            "{:?}",
            public.warnings()
        );
        let file: Settings = toml::from_str("metrics_listen = \"127.0.0.1:0\"").expect("toml");
        assert_eq!(file.metrics_listen.map(|a| a.port()), Some(0));
        assert!(load(&[("JWTGATE_METRICS_LISTEN", "127.0.0.1:8080")]).is_err());
        assert!(load(&[("JWTGATE_METRICS_LISTEN", "nowhere")]).is_err());
    }

    #[test]
    fn cors_origins_must_be_exact_origins() {
        let s = load(&[(
            "JWTGATE_CORS_ORIGINS",
            "https://app.example.com, http://127.0.0.1:5173",
        )])
        .expect("valid");
        assert_eq!(
            s.cors_origins,
            ["https://app.example.com", "http://127.0.0.1:5173"]
        );
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://App.example.com",
            "*",
            "ftp://x.example",
        ] {
            assert!(load(&[("JWTGATE_CORS_ORIGINS", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn weak_argon2_needs_the_explicit_test_setting() {
        assert!(load(&[("JWTGATE_ARGON2_MEMORY_KIB", "64")]).is_err());
        assert!(
            load(&[
                ("JWTGATE_ARGON2_MEMORY_KIB", "64"),
                ("JWTGATE_ALLOW_WEAK_PASSWORD_HASHING", "true")
            ])
            .is_ok()
        );
    }
}
