//! `jwtgate doctor`: what is wrong with a deployment, before users find out. One line a check
//! (`ok`, or `FAIL` with what to do), exit status 0 only when none failed. It reads and never
//! writes: no migration, no key, no master key is made (a first start makes them; the doctor
//! says so). Glue between settings, files, the store and HTTP; the rules stay where they are.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Settings;
use crate::domain::email::Email;
use crate::shared::keys;
use crate::startup;
use crate::store::Store;

/// The most two clocks may differ before tokens minted by one look wrong to the other.
const MAX_SKEW_SECS: f64 = 5.0;

/// One check's verdict.
struct Check {
    name: &'static str,
    ok: bool,
    detail: String,
}

fn pass(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        ok: true,
        detail: detail.into(),
    }
}

fn fail(name: &'static str, detail: impl Into<String>) -> Check {
    Check {
        name,
        ok: false,
        detail: detail.into(),
    }
}

/// Runs every check on `settings` (already loaded: a configuration that does not load is the
/// caller's first failure), prints a line for each, and says whether all passed.
pub async fn run(settings: &Settings) -> bool {
    let mut checks = vec![
        configuration(settings),
        key_material(settings),
        data_dir(settings),
    ];
    let store = match startup::database_location(settings) {
        // Opening would make the file: the doctor writes nothing.
        Ok(crate::store::Location::Sqlite(path)) if !path.exists() => {
            checks.push(fail(
                "database",
                format!(
                    "no database at {} yet: start the server or run `jwtgate migrate`",
                    path.display()
                ),
            ));
            None
        }
        Ok(location) => match Store::open(&location, 1).await {
            Ok(store) => Some(store),
            Err(e) => {
                checks.push(fail(
                    "database",
                    format!("cannot open {}: {e}", startup::database_name(&location)),
                ));
                None
            }
        },
        Err(e) => {
            checks.push(fail("database", format!("{e:#}")));
            None
        }
    };
    if let Some(store) = &store {
        checks.push(migrations(store).await);
        checks.push(addresses(store).await);
        checks.push(sealed_keys(settings, store).await);
    }
    checks.push(pass(
        "redis",
        "not used: several nodes share PostgreSQL alone (README, \"Several nodes\")",
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build();
    let server_date = match client {
        Ok(client) => {
            let (check, date) = issuer(settings, &client).await;
            checks.push(check);
            if let Some(public) = &settings.public_url {
                checks.push(public_url(public, &client).await);
            }
            date
        }
        Err(e) => {
            checks.push(fail("issuer", format!("no HTTP client: {e}")));
            None
        }
    };
    checks.push(clock(store.as_ref(), server_date).await);
    if let Some(store) = store {
        store.close().await;
    }
    let mut all = true;
    for check in &checks {
        all &= check.ok;
        let verdict = if check.ok { "ok  " } else { "FAIL" };
        println!("{verdict} {:<15} {}", check.name, check.detail);
    }
    all
}

fn configuration(settings: &Settings) -> Check {
    match startup::preflight(settings) {
        Err(e) => fail("configuration", format!("{e:#}")),
        Ok(()) => match settings.warnings().as_slice() {
            [] => pass("configuration", "valid"),
            warnings => fail("configuration", warnings.join("; ")),
        },
    }
}

/// The master key (when it exists) and the key files the settings name.
fn key_material(settings: &Settings) -> Check {
    let path = keys::master_key_path(settings);
    if let Err(e) = keys::check(settings) {
        return fail("keys", format!("{e}"));
    }
    if path.exists() {
        pass("keys", format!("master key {} reads", path.display()))
    } else {
        pass(
            "keys",
            format!(
                "no master key yet: the first start makes {}",
                path.display()
            ),
        )
    }
}

fn data_dir(settings: &Settings) -> Check {
    let dir = &settings.data_dir;
    let Ok(meta) = std::fs::metadata(dir) else {
        return pass(
            "data directory",
            format!(
                "{} does not exist yet: the first start makes it (mode 700)",
                dir.display()
            ),
        );
    };
    if !meta.is_dir() {
        return fail(
            "data directory",
            format!("{} is not a directory", dir.display()),
        );
    }
    #[cfg(unix)]
    {
        #[cfg(target_os = "linux")]
        use std::os::unix::fs::MetadataExt as _;
        use std::os::unix::fs::PermissionsExt as _;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return fail(
                "data directory",
                format!(
                    "{} is open to other local users (mode {mode:o}): it holds password hashes \
                     and keys; run chmod 700 on it",
                    dir.display()
                ),
            );
        }
        #[cfg(target_os = "linux")]
        if meta.uid() != rustix::process::geteuid().as_raw() {
            return fail(
                "data directory",
                format!("{} belongs to another user", dir.display()),
            );
        }
    }
    pass(
        "data directory",
        format!("{} is this user's alone", dir.display()),
    )
}

async fn migrations(store: &Store) -> Check {
    match store.pending_migrations().await {
        Ok(pending) if pending.is_empty() => pass(
            "database",
            format!("reachable ({}), every migration applied", store.backend()),
        ),
        Ok(pending) => fail(
            "database",
            format!(
                "{} migration(s) not applied ({}): run `jwtgate migrate` (or start the server)",
                pending.len(),
                pending.join(", ")
            ),
        ),
        Err(e) => fail("database", format!("cannot read the migrations: {e}")),
    }
}

/// Addresses that are one address once normalised (stored by an older version, or written
/// around the server), and addresses no longer valid: both stop their owners signing in.
async fn addresses(store: &Store) -> Check {
    let stored = match store.stored_addresses().await {
        Ok(stored) => stored,
        Err(e) => return fail("addresses", format!("cannot read the users: {e}")),
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut invalid = 0usize;
    for raw in &stored {
        match Email::parse(raw) {
            Ok(email) => *seen.entry(email.as_str().to_owned()).or_default() += 1,
            Err(_) => invalid += 1,
        }
    }
    let duplicated = seen.values().filter(|n| **n > 1).count();
    if duplicated == 0 && invalid == 0 {
        pass(
            "addresses",
            format!("{} accounts, no duplicate address", stored.len()),
        )
    } else {
        fail(
            "addresses",
            format!(
                "{duplicated} address(es) shared by several accounts once normalised, {invalid} \
                 invalid: those accounts cannot sign in reliably; merge or correct them"
            ),
        )
    }
}

/// Whether the master key opens the keys sealed in the database (a node with another key
/// would be refused at start).
async fn sealed_keys(settings: &Settings, store: &Store) -> Check {
    let rows = match store.signing_keys().await {
        Ok(rows) => rows,
        Err(e) => return fail("sealed keys", format!("cannot read the signing keys: {e}")),
    };
    let Some((kid, sealed)) = rows
        .iter()
        .find_map(|row| row.private_enc.as_ref().map(|sealed| (&row.kid, sealed)))
    else {
        return pass("sealed keys", "none stored yet");
    };
    let path = keys::master_key_path(settings);
    if !path.exists() {
        return fail(
            "sealed keys",
            format!(
                "the database holds sealed keys but {} does not exist: give this node the \
                 master key the others use (master_key_file)",
                path.display()
            ),
        );
    }
    match keys::load_master_key(settings).map(|master| master.open(kid, sealed).is_ok()) {
        Ok(true) => pass(
            "sealed keys",
            format!("the master key opens them ({} stored)", rows.len()),
        ),
        Ok(false) => fail(
            "sealed keys",
            "the master key does not open the stored keys: this node has another master key \
             than the ones that made them (master_key_file)",
        ),
        Err(e) => fail("sealed keys", format!("{e}")),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// The issuer: https unless loopback, and a jwtgate answering there with this very issuer.
/// Returns its `Date`, for the clock check.
async fn issuer(settings: &Settings, client: &reqwest::Client) -> (Check, Option<SystemTime>) {
    let issuer = settings.issuer();
    let Ok(url) = reqwest::Url::parse(&issuer) else {
        return (fail("issuer", format!("{issuer} is not a URL")), None);
    };
    if url.scheme() != "https" && !is_loopback(&url) {
        return (
            fail(
                "issuer",
                format!(
                    "{issuer} is not https: tokens and cookies would cross the network in clear"
                ),
            ),
            None,
        );
    }
    let discovery = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let response = match client.get(&discovery).send().await {
        Ok(response) => response,
        Err(e) => {
            return (
                fail(
                    "issuer",
                    format!(
                        "{issuer} does not answer ({}): is the server running there?",
                        e.without_url()
                    ),
                ),
                None,
            );
        }
    };
    let date = response
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(httpdate);
    let status = response.status();
    let body: serde_json::Value = match response.bytes().await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => serde_json::Value::Null,
    };
    let check = if !status.is_success() {
        fail(
            "issuer",
            format!("{discovery} answered HTTP {}", status.as_u16()),
        )
    } else if body["issuer"] != serde_json::Value::String(issuer.clone()) {
        fail(
            "issuer",
            format!(
                "the server at {issuer} says its issuer is {}: the settings here are not the \
                 server's",
                body["issuer"]
            ),
        )
    } else {
        pass("issuer", format!("{issuer} answers as this issuer"))
    };
    (check, date)
}

async fn public_url(public: &str, client: &reqwest::Client) -> Check {
    let Ok(url) = reqwest::Url::parse(public) else {
        return fail("public url", format!("{public} is not a URL"));
    };
    if url.scheme() != "https" && !is_loopback(&url) {
        return fail(
            "public url",
            format!("{public} is not https: links in mails would be"),
        );
    }
    let health = format!("{}/healthz", public.trim_end_matches('/'));
    match client.get(&health).send().await {
        Ok(r) if r.status().is_success() => pass("public url", format!("{public} reaches jwtgate")),
        Ok(r) => fail(
            "public url",
            format!("{health} answered HTTP {}", r.status().as_u16()),
        ),
        Err(e) => fail(
            "public url",
            format!("{public} does not answer ({})", e.without_url()),
        ),
    }
}

/// This machine's clock against the database's (PostgreSQL) or the server's `Date`.
async fn clock(store: Option<&Store>, server_date: Option<SystemTime>) -> Check {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let database = match store {
        Some(store) => store.database_clock().await.ok().flatten(),
        None => None,
    };
    let (reference, name) = match (database, server_date) {
        (Some(db), _) => (db, "the database's"),
        (None, Some(date)) => (
            date.duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            "the server's",
        ),
        (None, None) => return pass("clock", "no other clock to compare with (single node)"),
    };
    // An HTTP date has whole seconds.
    let skew = now - reference;
    if skew.abs() > MAX_SKEW_SECS {
        fail(
            "clock",
            format!(
                "this clock is {skew:+.1} s off {name}: run NTP (tokens' times would be wrong)"
            ),
        )
    } else {
        pass("clock", format!("within {:.1} s of {name}", skew.abs()))
    }
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7), the only form servers send.
fn httpdate(text: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)?;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Days from the civil date (H. Hinnant's algorithm).
    let (y, mo) = if month < 2 {
        (year - 1, month as i64 + 10)
    } else {
        (year, month as i64 - 2)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_date_reads_as_its_instant() {
        let t = httpdate("Sun, 06 Nov 1994 08:49:37 GMT").expect("a date");
        assert_eq!(
            t.duration_since(UNIX_EPOCH).expect("after").as_secs(),
            784_111_777
        );
        let t = httpdate("Mon, 07 Dec 2026 06:55:00 GMT").expect("a date");
        assert_eq!(
            t.duration_since(UNIX_EPOCH).expect("after").as_secs(),
            1_796_626_500
        );
        assert!(httpdate("yesterday").is_none());
        assert!(httpdate("Sun, 06 Nov 1994 08:49:37 CET").is_none());
    }
}
