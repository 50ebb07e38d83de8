//! Owns the command line of the `jwtgate` binary: serve, migrate, user add, secret, token
//! decode/verify, check-config, keys, feed credentials, OAuth clients. Glue only (anyhow allowed); the rules live in the domain.
//! Must not import sqlx or axum.

use std::io::{IsTerminal as _, Read as _};
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{Parser, Subcommand};
use std::sync::Arc;

use jwtgate_verify::remote::RemoteJwks;
use jwtgate_verify::{Algorithm, Jwks, Key, KeySet, Policy, Verifier};

use crate::clock::Clock;
use crate::config::{LogFormat, PemAlgorithm, SecretString, Settings};
use crate::domain::audit::{AuditEvent, Outcome};
use crate::domain::clients::{ClientRequest, ClientSecret, NewClient};
use crate::domain::password::Password;
use crate::domain::signing::KeyPurpose;
use crate::shared::keys::{pem_algorithm, random_key_bytes};
use crate::startup::{self, Application};
use crate::store::Location;

#[derive(Debug, Parser)]
#[command(
    name = "jwtgate",
    version,
    about = "Self-hosted JWT authentication server"
)]
pub struct Cli {
    /// TOML configuration file (defaults < file < JWTGATE_* env < flags).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (SQLite database and generated keys).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// The database (postgres://… or sqlite:PATH; default: jwtgate.db in the data dir).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks one).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print a new random 256-bit secret (for JWT_SECRET).
    Secret,
    /// Inspect tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the effective settings (secrets redacted) and exit non-zero if they are invalid.
    CheckConfig,
    /// Check a deployment: configuration, keys and master key, data directory, database
    /// (reachable, migrated, addresses), issuer and public URL, clock. A line per check; exits
    /// non-zero if any failed. Reads only.
    Doctor,
    /// Manage the signing keys (every node sharing the database follows within seconds).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage the credentials of services that read the revocation feed (/revocations).
    FeedCredential {
        #[command(subcommand)]
        command: FeedCredentialCommand,
    },
    /// Manage the OAuth client registry (the applications the OpenID Connect provider serves;
    /// the built-in web client `jwtgate` is not one of them).
    Client {
        #[command(subcommand)]
        command: ClientCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Register a client; prints its client_id, and a confidential client's secret this once
    /// (only its hash is kept).
    Add {
        /// What users see, e.g. "Orders dashboard" (1 to 100 characters).
        #[arg(long)]
        name: String,
        /// Where the provider may send the user back (repeatable; at least one with the
        /// authorization_code grant): https, or http on 127.0.0.1, [::1] or localhost. Kept and
        /// matched exactly as given.
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// A client that cannot keep a secret (a browser or native app, PKCE only): no secret.
        #[arg(long, conflicts_with = "confidential")]
        public: bool,
        /// A client that keeps a secret (a server-side app); the default.
        #[arg(long)]
        confidential: bool,
        /// A grant the client may use (repeatable): authorization_code, refresh_token,
        /// client_credentials (confidential only). Default: authorization_code and
        /// refresh_token.
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// The operator's own application: the provider may skip the consent screen.
        #[arg(long)]
        first_party: bool,
        /// One JSON object (client_id, client_secret, and the client) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every registered client: client_id, name, kind, grants, redirect URIs.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One client (never its secret).
    Show {
        /// The client_id, as `list` shows it.
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove a client: it can no longer take part in any flow.
    Remove {
        /// The client_id, as `list` shows it.
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum FeedCredentialCommand {
    /// Make a credential; its secret is printed this once (only its hash is kept).
    Add {
        /// What reads the feed with it, e.g. orders-api.
        #[arg(long)]
        name: String,
        /// One JSON object (id, name, secret) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Every credential: id, name, created, revoked.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a credential: refused at once, its open streams end at their next read.
    Revoke {
        /// The credential's id, as `list` shows it (it may begin with a `-`).
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Every key: kid, algorithm, state (published, active, retiring, removed, revoked), what
    /// it signs (access tokens, ID tokens), times.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Publish the next key now; it signs once it has been published key_prepublish_secs.
    Rotate {
        /// The chain to rotate, by its algorithm: RS256 for ID tokens' keys; by default the
        /// access tokens' (signing_key_alg).
        #[arg(long)]
        alg: Option<PemAlgorithm>,
    },
    /// Revoke a leaked key: out of the JWKS, and every token it signed refused by every running
    /// node within seconds. Revoking the signing key makes the next one sign at once.
    Revoke {
        /// The key's kid, as `list` shows it (it may begin with a `-`).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account; the password is read from the terminal, or from stdin when piped.
    Add {
        #[arg(long)]
        email: String,
        /// A role to grant (repeatable), e.g. --role admin.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// The address is known to be the user's: it needs no confirmation mail (with
        /// require_email_verification, the account can sign in at once).
        #[arg(long)]
        verified: bool,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a token's header and claims WITHOUT verifying anything.
    Decode { jwt: String },
    /// Verify a token's signature and claims. The key: --jwks, --key, --secret-file or
    /// --secret-env; with none of them, the configured JWT_SECRET (HS256) if there is one.
    Verify {
        jwt: String,
        /// Issuer JWKS URL, e.g. http://127.0.0.1:8080/.well-known/jwks.json
        #[arg(long, group = "source")]
        jwks: Option<String>,
        /// A JWKS JSON file, or a PKCS#8 PEM private key.
        #[arg(long, group = "source")]
        key: Option<PathBuf>,
        /// A file holding the HS256 secret (what the server has as JWT_SECRET).
        #[arg(long, group = "source")]
        secret_file: Option<PathBuf>,
        /// The name of an environment variable holding the HS256 secret.
        #[arg(long, group = "source")]
        secret_env: Option<String>,
        /// Algorithm of a PEM key (EdDSA, also read as Ed25519; ES256; RS256).
        #[arg(long, default_value = "ES256")]
        alg: String,
        /// Expected issuer (default: the configured one; unset, the origin of --jwks).
        #[arg(long)]
        issuer: Option<String>,
        /// Expected audience (default: the configured one).
        #[arg(long)]
        audience: Option<String>,
    },
}

fn settings(cli: &Cli, listen: Option<SocketAddr>) -> anyhow::Result<Settings> {
    let mut settings = Settings::from_env(cli.config.as_deref())?;
    if let Some(dir) = &cli.data_dir {
        settings.data_dir = dir.clone();
    }
    if let Some(url) = &cli.database_url {
        settings.database_url = Some(SecretString::new(url.clone()));
    }
    if let Some(listen) = listen {
        settings.listen = listen;
    }
    settings.validate()?;
    Ok(settings)
}

/// Entry point of the binary.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The settings' log format, if they load (a command that fails on them says so itself).
    let format = settings(&cli, None).map_or(LogFormat::Text, |s| s.log_format);
    init_logging(format);
    match &cli.command {
        Command::Serve { listen } => serve(settings(&cli, *listen)?).await,
        Command::Migrate => {
            let settings = settings(&cli, None)?;
            let store = startup::open_store(&settings).await?;
            store.close().await;
            let location = startup::database_location(&settings)?;
            println!(
                "database is up to date ({}): {}",
                store.backend(),
                startup::database_name(&location)
            );
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    email,
                    roles,
                    verified,
                },
        } => user_add(settings(&cli, None)?, email, roles.clone(), *verified).await,
        Command::Secret => {
            println!("{}", URL_SAFE_NO_PAD.encode(random_key_bytes()));
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Decode { jwt },
        } => decode(jwt),
        Command::Token {
            command:
                TokenCommand::Verify {
                    jwt,
                    jwks,
                    key,
                    secret_file,
                    secret_env,
                    alg,
                    issuer,
                    audience,
                },
        } => {
            let s = settings(&cli, None)?;
            // The server's own issuer: configured, or (unset) the address it serves its JWKS
            // from, which an unset issuer follows.
            let issuer = issuer
                .clone()
                .or_else(|| s.issuer.clone())
                .or_else(|| jwks.as_deref().and_then(origin))
                .unwrap_or_else(|| s.issuer());
            let audience = audience.clone().unwrap_or_else(|| s.audience.clone());
            let source = match (jwks, key, secret_file, secret_env) {
                (Some(url), ..) => KeySource::Jwks(url.clone()),
                (_, Some(path), ..) => KeySource::File(path.clone(), alg.clone()),
                (_, _, Some(path), _) => KeySource::Secret(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?
                        .trim_end_matches(['\r', '\n'])
                        .to_owned(),
                ),
                (_, _, _, Some(name)) => KeySource::Secret(
                    std::env::var(name)
                        .with_context(|| format!("environment variable {name} is not set"))?,
                ),
                (None, None, None, None) => match &s.jwt_secret {
                    Some(secret) => KeySource::Secret(secret.expose().to_owned()),
                    None => bail!(
                        "give --jwks URL, --key FILE, --secret-file FILE or --secret-env NAME \
                         (no JWT_SECRET is configured)"
                    ),
                },
            };
            verify(jwt, source, issuer, audience).await
        }
        Command::Keys { command } => keys(settings(&cli, None)?, command).await,
        Command::FeedCredential { command } => {
            feed_credential(settings(&cli, None)?, command).await
        }
        Command::Client { command } => client(settings(&cli, None)?, command).await,
        Command::Doctor => {
            let settings = match settings(&cli, None) {
                Ok(settings) => settings,
                Err(e) => {
                    println!("FAIL {:<15} {e:#}", "configuration");
                    std::process::exit(1);
                }
            };
            if !crate::doctor::run(&settings).await {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::CheckConfig => {
            let settings = settings(&cli, None)?;
            startup::preflight(&settings)?;
            startup::check_database(&settings).await?;
            for warning in settings.warnings() {
                eprintln!("warning: {warning}");
            }
            print!("{}", settings.redacted_toml());
            eprintln!("configuration is valid");
            Ok(())
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let _one_node = sqlite_node_lock(&settings)?;
    let hs256 = settings.jwt_secret.is_some();
    let data_dir = settings.data_dir.clone();
    let app = Application::build(settings).await?;
    let scheme = if app.settings().tls() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{}", app.local_addr());
    let signer = app.handle().signing().signer()?;
    let kind = if hs256 {
        " (JWT_SECRET)"
    } else {
        " (public keys at /.well-known/jwks.json; `jwtgate keys list`)"
    };
    let credentials = r#"{"email":"ada@example.com","password":"correct horse battery staple"}"#;
    let banner = format!(
        "jwtgate listening on {url}\n  data dir:  {}\n  signing:   {} key {}{kind}\nnext steps:\n  \
         curl -s -X POST {url}/auth/register -H 'content-type: application/json' -d '{credentials}'\n  \
         curl -s -X POST {url}/auth/login -H 'content-type: application/json' -d '{credentials}'\n  \
         curl -s {url}/api/me -H 'authorization: Bearer <access_token>'\n",
        data_dir.display(),
        signer.algorithm(),
        signer.kid(),
    );
    // Written once, and a closed stdout (`jwtgate serve | head -1`, a supervisor that stopped
    // reading) never stops the server: `println!` would panic on the broken pipe.
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    }
    app.run_until_stopped().await
}

/// On SQLite, an exclusive lock beside the database file, held while the server runs: a second
/// `serve` on the same file is refused. The revocation view, the login throttle and the rate
/// limits of a SQLite node live in its memory, so a second node would not see the first's logouts;
/// several nodes share PostgreSQL instead. (The CLI's other commands may run beside a server.)
fn sqlite_node_lock(settings: &Settings) -> anyhow::Result<Option<std::fs::File>> {
    let Location::Sqlite(path) = startup::database_location(settings)? else {
        return Ok(None);
    };
    crate::files::private_dir(&settings.data_dir)
        .with_context(|| format!("cannot create data dir {}", settings.data_dir.display()))?;
    let lock_path = path.with_extension("db.serve-lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another `jwtgate serve` is running on {}: a SQLite database serves one node (its \
             logouts, lockouts and limits live in that node's memory); run several nodes on \
             PostgreSQL (database_url = \"postgres://…\")",
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", lock_path.display()))
        }
    }
}

/// `jwtgate keys ...`: each change is audited (actor: the CLI).
async fn keys(settings: Settings, command: &KeysCommand) -> anyhow::Result<()> {
    let state = startup::build_state(settings, Clock::system()).await?;
    let signing = state.core.signing();
    let audit = |event: &'static str, kid: &str, ok: bool| {
        cli_audit(
            state.core.audit(),
            event,
            None,
            format!("kid {kid} (jwtgate keys)"),
            ok,
        )
    };
    let result = match command {
        KeysCommand::List { json } => {
            let keys = signing.list();
            if *json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                println!(
                    "{:<45} {:<6} {:<9} {:<21} {:<20} {:<20} {:<20}",
                    "KID", "ALG", "STATE", "SIGNS", "PUBLISHED", "SIGNS FROM", "LEAVES JWKS"
                );
                let at = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), utc);
                for k in keys {
                    let purpose: Vec<&str> = k.purpose.iter().map(|p| p.as_str()).collect();
                    println!(
                        "{:<45} {:<6} {:<9} {:<21} {:<20} {:<20} {:<20}",
                        k.kid,
                        k.alg,
                        k.state.as_str(),
                        purpose.join(","),
                        at(k.publish_at),
                        at(k.activate_at),
                        at(k.revoked_at.or(k.retire_at)),
                    );
                }
            }
            Ok(())
        }
        KeysCommand::Rotate { alg } => {
            let rotated = signing.rotate(alg.map(pem_algorithm)).await;
            let kid = rotated.as_ref().map_or("-", |k| k.kid.as_str()).to_owned();
            audit("key_rotated", &kid, rotated.is_ok()).await;
            rotated.map(|k| {
                println!(
                    "key {} ({}) is published; it signs from {}",
                    k.kid,
                    k.alg,
                    k.activate_at.map_or_else(|| "now".to_owned(), utc)
                );
            })
        }
        KeysCommand::Revoke { kid } => {
            let revoked = signing.revoke(kid).await;
            audit("key_revoked", kid, revoked.is_ok()).await;
            match revoked {
                Ok(key) => {
                    // The key that signs in its place: its chain's.
                    let signer = if key.purpose == [KeyPurpose::IdToken] {
                        signing.id_token_signer().await
                    } else {
                        signing.signer()
                    };
                    let signer = signer.map(|k| k.kid().to_owned());
                    println!(
                        "key {kid} is revoked: running nodes refuse its tokens within {} s; {} \
                         signs",
                        crate::config::KEY_POLL_SECS,
                        signer.as_deref().unwrap_or("no key")
                    );
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    };
    state.core.close().await;
    Ok(result?)
}

/// Records a change made from the command line in the audit log (no actor: the operator).
async fn cli_audit(
    audit: crate::domain::audit::Audit,
    event: &'static str,
    subject: Option<&str>,
    detail: String,
    ok: bool,
) {
    audit
        .record(AuditEvent {
            actor: None,
            subject,
            ip: None,
            event,
            outcome: if ok {
                Outcome::Success
            } else {
                Outcome::Failure
            },
            detail: Some(detail),
        })
        .await;
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info,sqlx=warn`), as text or JSON lines.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// `jwtgate feed-credential ...`.
async fn feed_credential(
    settings: Settings,
    command: &FeedCredentialCommand,
) -> anyhow::Result<()> {
    let state = startup::build_state(settings, Clock::system()).await?;
    let feed = &state.feed;
    let result = match command {
        FeedCredentialCommand::Add { name, json } => {
            feed.add_credential(name).await.map(|(id, secret)| {
                if *json {
                    println!(
                        "{}",
                        serde_json::json!({"id": id, "name": name.trim(), "secret": secret})
                    );
                } else {
                    println!(
                        "feed credential {id} ({}) made; its secret, shown once:",
                        name.trim()
                    );
                    println!("{secret}");
                }
            })
        }
        FeedCredentialCommand::List { json } => feed.credentials().await.map(|list| {
            if *json {
                print_json(&list);
            } else {
                println!(
                    "{:<24} {:<30} {:<20} {:<20}",
                    "ID", "NAME", "CREATED", "REVOKED"
                );
                for c in list {
                    println!(
                        "{:<24} {:<30} {:<20} {:<20}",
                        c.id,
                        c.name,
                        utc(c.created_at),
                        c.revoked_at.map_or_else(|| "-".to_owned(), utc)
                    );
                }
            }
        }),
        FeedCredentialCommand::Revoke { id } => feed
            .revoke_credential(id)
            .await
            .map(|()| println!("feed credential {id} is revoked")),
    };
    state.core.close().await;
    Ok(result?)
}

/// `jwtgate client ...`: additions and removals are audited (actor: the CLI).
async fn client(settings: Settings, command: &ClientCommand) -> anyhow::Result<()> {
    let state = startup::build_state(settings, Clock::system()).await?;
    let clients = &state.clients;
    let result = match command {
        ClientCommand::Add {
            name,
            redirect_uris,
            public,
            confidential: _,
            grants,
            first_party,
            json,
        } => {
            let request = ClientRequest {
                name: name.clone(),
                kind: public.then(|| "public".to_owned()),
                redirect_uris: redirect_uris.clone(),
                grants: grants.clone(),
                first_party: *first_party,
            };
            match NewClient::parse(request) {
                Err(e) => Err(e),
                Ok(new) => {
                    let added = clients.add(new).await;
                    if let Ok((client, _)) = &added {
                        cli_audit(
                            state.core.audit(),
                            "client_added",
                            Some(&client.client_id),
                            "jwtgate client".to_owned(),
                            true,
                        )
                        .await;
                    }
                    added.map(|(client, secret)| {
                        let secret = secret.as_ref().map(ClientSecret::expose);
                        if *json {
                            let mut shown = serde_json::to_value(&client).unwrap_or_default();
                            shown["client_secret"] = secret.into();
                            println!("{shown}");
                        } else {
                            println!(
                                "{} client {} ({}) registered; client_id:",
                                client.kind.as_str(),
                                client.name,
                                grant_list(&client),
                            );
                            println!("{}", client.client_id);
                            if let Some(secret) = secret {
                                println!("its secret, shown once (only its hash is kept):");
                                println!("{secret}");
                            }
                        }
                    })
                }
            }
        }
        ClientCommand::List { json } => clients.list().await.map(|list| {
            if *json {
                print_json(&list);
            } else {
                println!(
                    "{:<24} {:<30} {:<13} {:<20} REDIRECT URIS",
                    "CLIENT ID", "NAME", "KIND", "CREATED"
                );
                for c in list {
                    println!(
                        "{:<24} {:<30} {:<13} {:<20} {}",
                        c.client_id,
                        c.name,
                        c.kind.as_str(),
                        utc(c.created_at),
                        c.redirect_uris.join(" ")
                    );
                }
            }
        }),
        ClientCommand::Show { id, json } => clients.get(id).await.map(|c| {
            if *json {
                print_json(&c);
            } else {
                println!("client_id:     {}", c.client_id);
                println!("name:          {}", c.name);
                println!("kind:          {}", c.kind.as_str());
                println!("grants:        {}", grant_list(&c));
                println!(
                    "first party:   {}",
                    if c.first_party { "yes" } else { "no" }
                );
                println!("created:       {}", utc(c.created_at));
                for uri in &c.redirect_uris {
                    println!("redirect URI:  {uri}");
                }
            }
        }),
        ClientCommand::Remove { id } => {
            let removed = clients.remove(id).await;
            if removed.is_ok() {
                cli_audit(
                    state.core.audit(),
                    "client_removed",
                    Some(id),
                    "jwtgate client".to_owned(),
                    true,
                )
                .await;
            }
            removed.map(|()| println!("client {id} is removed"))
        }
    };
    state.core.close().await;
    Ok(result?)
}

fn grant_list(client: &crate::domain::clients::Client) -> String {
    client
        .grants
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `value` as indented JSON on stdout (the `--json` of list and show commands).
fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// `secs` as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
fn utc(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn read_password() -> anyhow::Result<Password> {
    let raw = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ")?;
        let second = rpassword::prompt_password("again: ")?;
        if first != second {
            bail!("the passwords differ");
        }
        first
    } else {
        let mut buf = String::new();
        std::io::stdin().take(1024).read_to_string(&mut buf)?;
        buf.trim_end_matches(['\r', '\n']).to_owned()
    };
    Ok(Password::new(raw))
}

async fn user_add(
    settings: Settings,
    email: &str,
    roles: Vec<String>,
    verified: bool,
) -> anyhow::Result<()> {
    let password = read_password()?;
    let state = startup::build_state(settings, Clock::system()).await?;
    let added = state
        .accounts
        .add_user(email, password, roles, verified)
        .await;
    state.core.close().await;
    let user = added.map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "created user {} ({}) roles={:?}{}",
        user.id,
        user.email,
        user.roles,
        if user.email_verified {
            ", address verified"
        } else {
            ""
        }
    );
    Ok(())
}

fn decode_part(part: &str) -> anyhow::Result<serde_json::Value> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .context("not base64url")?;
    serde_json::from_slice(&bytes).context("not JSON")
}

fn decode(jwt: &str) -> anyhow::Result<()> {
    let mut parts = jwt.trim().split('.');
    let (Some(h), Some(p), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        bail!("a JWS compact token has three dot-separated parts");
    };
    println!("*** NOT VERIFIED: this only decodes; anyone can write these bytes ***");
    println!(
        "header:\n{}",
        serde_json::to_string_pretty(&decode_part(h)?)?
    );
    println!(
        "claims:\n{}",
        serde_json::to_string_pretty(&decode_part(p)?)?
    );
    Ok(())
}

/// Where `token verify` finds its key.
enum KeySource {
    Jwks(String),
    /// A JWKS file or a PEM key, with the algorithm of a PEM key.
    File(PathBuf, String),
    /// The HS256 secret (`JWT_SECRET`).
    Secret(String),
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split('/').next().filter(|h| !h.is_empty())?;
    Some(format!("{scheme}://{host}"))
}

async fn verify(
    jwt: &str,
    source: KeySource,
    issuer: String,
    audience: String,
) -> anyhow::Result<()> {
    let policy = Policy::new(issuer, audience);
    let result = match source {
        // jwtgate-verify's remote JWKS client: https only, except to a loopback host.
        KeySource::Jwks(url) => {
            let verifier = Arc::new(Verifier::new(KeySet::empty(), policy));
            let remote = RemoteJwks::connect(&url, verifier)
                .await
                .with_context(|| format!("cannot fetch the JWKS at {url}"))?;
            remote.verify(jwt.trim()).await
        }
        KeySource::File(path, alg) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let keyset = if text.trim_start().starts_with('{') {
                let jwks: Jwks = serde_json::from_str(&text).context("not a JWKS")?;
                KeySet::from_jwks(&jwks)?
            } else {
                let alg = Algorithm::from_name(&alg)
                    .with_context(|| format!("unknown algorithm {alg}"))?;
                KeySet::new(Key::from_pem(&text, alg, None)?)?
            };
            Verifier::new(keyset, policy).verify(jwt.trim())
        }
        KeySource::Secret(secret) => {
            // The kid the server gives this secret, so the token's `kid` finds it.
            let keys = KeySet::from_shared_secrets(&[secret.as_bytes()])?;
            Verifier::new(keys, policy).verify(jwt.trim())
        }
    };
    match result {
        Ok(claims) => {
            println!("VALID");
            println!("{}", serde_json::to_string_pretty(&*claims)?);
            Ok(())
        }
        Err(e) => bail!("INVALID: {} ({e})", e.reason()),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, utc};

    /// Kids and credential ids are base64url, so about one in 32 begins with a `-`: it is
    /// still the value, wherever the options stand.
    #[test]
    fn an_id_beginning_with_a_hyphen_is_a_value_not_an_option() {
        for args in [
            &["jwtgate", "keys", "revoke", "-Yk1", "--data-dir", "/d"][..],
            &["jwtgate", "--data-dir", "/d", "keys", "revoke", "-Yk1"][..],
            &[
                "jwtgate",
                "feed-credential",
                "revoke",
                "-Yk1",
                "--data-dir",
                "/d",
            ][..],
            &["jwtgate", "client", "remove", "-Yk1", "--data-dir", "/d"][..],
            &[
                "jwtgate",
                "client",
                "show",
                "-Yk1",
                "--json",
                "--data-dir",
                "/d",
            ][..],
        ] {
            let cli = Cli::try_parse_from(args).expect("parses");
            let shown = format!("{cli:?}");
            assert!(shown.contains("\"-Yk1\""), "{shown}");
            assert!(shown.contains("\"/d\""), "{shown}");
        }
    }

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_796_601_599), "2026-12-06T23:59:59Z");
    }
}
